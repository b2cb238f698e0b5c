"""logpipe: a log-processing pipeline on faust-streaming."""

__version__ = "0.1.0"
