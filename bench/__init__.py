"""``make bench``: logpipe measured against its own ceilings on this machine, in one run."""
