"""Development stack: find or start the servers logpipe needs (``make run``, tests)."""
