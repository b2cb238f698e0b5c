"""The ``logpipe`` command line (entry point :func:`app.cli.main.main`)."""
