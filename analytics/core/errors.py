"""Exceptions. Only structural problems raise; row-level problems become findings."""


class DataError(Exception):
    """A structural input error (missing table or column, unreadable file, bad policy).

    It stops the run: the CLI prints the message and exits non-zero.
    """
