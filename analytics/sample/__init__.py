"""Synthetic data: the sample dataset with its planted truth (``generate``, the entry point, with
its package-internal modules) and the comparison's calibration generator (``calibration``)."""
