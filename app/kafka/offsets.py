"""Where a partition is read from after a rebalance: its committed offset, or its start when it has none.

A commit the broker refused leaves no committed offset behind.

Faust records a commit's offsets as committed even when the broker refused
the commit, which it does while the group rebalances. The refused commit
can finish after the revocation cleared the partition's entry, and when
the partition comes back to this worker without an offset on the broker,
Faust's seek keeps the entry (it sets only the partitions the broker holds
an offset for). The partition is then read again from the start, every
acknowledgement below the recorded offset is dropped, and unless newer
records arrive the group never commits the partition: its lag stays up for
good, although every record was stored. (faust-streaming 0.15,
``Consumer._commit_offsets`` and ``Consumer.perform_seek``.)

Forgetting the offset instead is always safe: the next seek sets it from
the broker, and until then every acknowledgement counts.

A partition with no committed offset is read again from its start. After a
rebalance Faust seeks every partition to its committed offset, but
aiokafka's ``seek_to_committed`` seeks only partitions whose committed
offset is above 0, so a partition this worker kept before its first commit
stayed where its fetcher was. The records it had fetched but not stored were
cleared from the streams by the rebalance and never read again, and the
acknowledgements of the later ones committed past them: seen as whole
envelopes from offset 0 neither stored nor dead-lettered when a worker of
two was killed within seconds of the start.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from faust.types import TP
from faust.types.transports import TransportT


class RefusedCommitsForgotten:
    """Consumer mixin: a partition whose commit was refused has no committed offset until the next seek."""

    _committed_offset: MutableMapping[TP, int | None]

    async def _commit_offsets(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        # A mixin: the transport's own consumer class follows it and commits.
        committed: bool = await super()._commit_offsets(  # type: ignore[misc]
            offsets, start_new_transaction=start_new_transaction
        )
        if not committed:
            for tp in offsets:
                self._committed_offset.pop(tp, None)
        return committed


class UncommittedFromStart:
    """Consumer mixin: after a rebalance, a partition with no committed offset is read from its first record."""

    async def seek_to_committed(self) -> Mapping[TP, int | None]:
        me: Any = self
        committed: dict[TP, int | None] = dict(await super().seek_to_committed())  # type: ignore[misc]
        unset = [tp for tp, offset in committed.items() if not offset and not me._is_changelog_tp(tp)]
        if unset and me.app.conf.consumer_auto_offset_reset == "earliest":
            earliest = await me.earliest_offsets(*unset)
            for tp in unset:
                start = 0 if committed[tp] == 0 else earliest.get(tp, 0)
                await me._seek(tp, start)
                committed[tp] = start if start > 0 else committed[tp]
        return committed


def forgetting_refused_commits(transport: TransportT, *mixins: type) -> TransportT:
    """``transport``, whose consumers forget the offsets of a refused commit (and take ``mixins`` too)."""
    consumer: Any = transport.Consumer  # the class's own: this sets the instance's
    bases = (RefusedCommitsForgotten, UncommittedFromStart, *mixins, consumer)
    transport.Consumer = type(consumer.__name__, bases, {})  # type: ignore[misc]
    return transport
