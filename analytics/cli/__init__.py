"""The ``analytics`` command line: ``main`` discovers and dispatches; each other module registers
its sub-commands."""
