"""logpipe's exceptions, one tree, each marked retriable or not.

    LogpipeError
    ├── BadBody              (not retriable: the body cannot be read as the route's format)
    │   └── BodyTooLarge     (not retriable: over the size limit, compressed or not)
    └── StorageUnavailable   (retriable: PostgreSQL or Redis cannot be reached now)
        └── CircuitOpen      (retriable: not even tried, the breaker says PostgreSQL is away)

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


class BadBody(LogpipeError, ValueError):
    """A request body is not what its route takes: not JSON, not protobuf, the wrong shape, too many items.

    ``code`` is the machine-readable reason a client sees (``invalid_json``, ``not_an_array``, ...).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BodyTooLarge(BadBody):
    """A body, or what it inflates to, is over the route's size limit."""

    def __init__(self, message: str) -> None:
        super().__init__("too_large", message)


class StorageUnavailable(LogpipeError):
    """A store cannot be reached or is restarting; trying again later may work."""

    retriable = True


class CircuitOpen(StorageUnavailable):
    """A read was not sent: the circuit breaker is open after PostgreSQL kept failing.

    ``retry_after`` is how long until the breaker lets a probe through.
    """

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
