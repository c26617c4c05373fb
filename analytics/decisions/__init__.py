"""The go / no-go decisions a pipeline asks for: the release gate and the canary judge."""
