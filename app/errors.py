"""logpipe's exceptions, one tree, each marked retriable or not.

    LogpipeError
    ├── InvalidInput         (not retriable: the sender must change the request)
    │   ├── BadBody          (the body cannot be read as the route's format; ``code``)
    │   │   └── BodyTooLarge (over the size limit, compressed or not)
    │   ├── InvalidEvent     (an event broke rules; ``errors`` lists each field and rule)
    │   ├── QueryError       (a query parameter broke a rule; ``field``, ``rule``)
    │   └── ReplayRefused    (a dead letter is still not a valid event after its patch)
    ├── TenantMismatch       (not retriable: a key of one organization asked for another's data)
    ├── ConfigError          (not retriable: a setting, or a file it names, is unusable)
    │   └── RulesError       (the log rules file: names the line, the column and the reason)
    ├── TryLater             (retriable: not now; ``code`` and ``retry_after`` say why and when)
    │   ├── Backpressure     (the pipeline lags past its high-water mark)
    │   ├── RateLimited      (the client is over its allowance)
    │   ├── BrokerUnavailable (the broker did not acknowledge: the events may or may not be stored)
    │   └── Overloaded       (too many requests already wait for the broker: nothing was sent)
    └── StorageUnavailable   (retriable: PostgreSQL or Redis cannot be reached now)
        └── CircuitOpen      (not even tried: the breaker says PostgreSQL is away)

Rows PostgreSQL refuses for good are not an exception but a result: the
storage layer isolates them and returns them for dead-lettering.

Agents decide retry-versus-dead-letter by :attr:`LogpipeError.retriable`,
never by matching message strings. Driver errors are translated into these
at the storage edge (:mod:`app.storage.edge`); HTTP answers are made from
them only in :mod:`app.web`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class LogpipeError(Exception):
    """Root of logpipe's errors."""

    retriable: bool = False


class InvalidInput(LogpipeError, ValueError):
    """What was sent breaks a rule; sending it again unchanged fails again."""


class BadBody(InvalidInput):
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


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule: which field, which rule, and a sentence for people."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidEvent(InvalidInput):
    """An event broke one or more rules; :attr:`errors` lists them."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(map(str, errors)))
        self.errors = errors


class QueryError(InvalidInput):
    """A parameter broke a rule; names the parameter and the rule."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.rule, self.message = field, rule, message

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class ReplayRefused(InvalidInput):
    """The letter still is not a valid event (after the patch); it is not resent."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class TenantMismatch(LogpipeError):
    """A key of one organization asked for another organization's data: refused, never widened."""


class ConfigError(LogpipeError, ValueError):
    """A setting, or a file a setting names, is unusable; the message says which entry and why."""


class RulesError(ConfigError):
    """The rules file is wrong: ``file:line:column: reason``, the position of the offending YAML node."""

    def __init__(self, source_name: str, line: int, column: int, reason: str) -> None:
        super().__init__(f"{source_name}:{line}:{column}: {reason}")
        self.source_name, self.line, self.column, self.reason = source_name, line, column, reason


class TryLater(LogpipeError):
    """The worker says "not now": nothing of the request was taken, and the same request may go through later.

    ``code`` is the reason clients see; ``retry_after`` the seconds to wait.
    """

    retriable = True
    code = "refused"

    def __init__(self, message: str, retry_after: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.headers: dict[str, Any] = headers or {}


class Backpressure(TryLater):
    """The persist stage lags past ``BACKPRESSURE_HIGH_LAG``: ingest waits until it is under the low mark."""

    code = "backpressure"


class RateLimited(TryLater):
    """The client sent more than its allowance; ``headers`` carry its ``X-RateLimit-*`` state."""

    code = "rate_limited"


class BrokerUnavailable(TryLater):
    """The broker did not acknowledge in time, or cannot be reached; the events may or may not be stored."""

    code = "broker_unavailable"

    def __init__(self, message: str, retry_after: int = 2) -> None:
        # A broker that went away takes seconds to come back or be found again.
        super().__init__(message, retry_after)


class Overloaded(TryLater):
    """Too many requests already wait for the broker's acknowledgement; this one's events were not sent."""

    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        # The requests waiting on the broker drain in well under a second.
        super().__init__(message, retry_after)


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
