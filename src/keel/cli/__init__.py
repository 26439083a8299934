"""The ``keel`` command line: one module per command group; calls the service layer only."""
