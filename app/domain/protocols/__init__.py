"""The shippers' wire formats, each decoded into logpipe events.

One decoder per protocol turns a request body (or a syslog frame) into
items in the order they came: an event as a plain dict of logpipe's own
fields (``message``, ``level``, ``source``, ``timestamp``, ``trace_id``,
``metadata``), ready for :func:`app.models.parse_event`, or a
:class:`Refused` naming the field and rule that kept an item from becoming
one. A body that cannot be read at all raises :class:`app.errors.BadBody`
(or :class:`app.errors.BodyTooLarge`). Tenancy, rate limits, backpressure
and publishing are the ingest service's, the same for every protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Refused:
    """An item that could not be mapped to an event: which field, which rule, and a sentence for people."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


Item = dict[str, Any] | Refused
"""One decoded item: an event's fields, or why it is not one."""
