"""logpipe's exceptions, one tree, each marked retriable or not.

    LogpipeError
    └── StorageUnavailable   (retriable: PostgreSQL or Redis cannot be reached now)

Rows PostgreSQL refuses for good are not an exception but a result: the
storage layer isolates them and returns them for dead-lettering.

Agents decide retry-versus-dead-letter by :attr:`LogpipeError.retriable`,
never by matching message strings. Driver errors are translated into these
at the storage edge (:mod:`app.storage`).
"""

from __future__ import annotations


class LogpipeError(Exception):
    """Root of logpipe's errors."""

    retriable: bool = False


class StorageUnavailable(LogpipeError):
    """A store cannot be reached or is restarting; trying again later may work."""

    retriable = True
