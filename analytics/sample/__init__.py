"""Synthetic data: the sample dataset with its planted truth and the comparison's calibration
generator."""
