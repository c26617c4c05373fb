"""The go / no-go decisions a pipeline asks for: the release gate (``gate.py``, ``analytics gate``)
and the canary judge (``judge.py``, ``analytics judge``; its rules live in
``analytics.comparison.judge``)."""
