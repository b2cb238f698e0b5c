"""Token buckets: how many requests (and events) a client may send per second.

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a
request takes ``cost`` tokens from each of its buckets, all or none. The
same arithmetic runs in two places: in Redis, as one Lua script over all of
a request's buckets (one round trip, atomic, so the limit is exact across
workers and uses Redis's clock), and here, per worker, for when Redis is
away — so a Redis outage loosens limits to one allowance per worker, never
to none and never to refusing everyone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Final

EPSILON: Final = 1e-9  # a token refilled to 0.9999999999 by float arithmetic is a token


@dataclass(frozen=True, slots=True)
class Bucket:
    """One allowance: ``name`` (with the client's identity) keys it, ``rate`` per second up to ``burst``."""

    name: str
    rate: float
    burst: float
    cost: float = 1.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: float  # the rate of the tightest bucket, per second
    remaining: int  # whole tokens left in it
    retry_after: float  # seconds until the request would be allowed (0 when allowed)
    reset: float  # seconds until the tightest bucket is full again
    exact: bool = True  # False: decided by this worker alone (Redis away)

    def headers(self) -> dict[str, str]:
        values = {
            "X-RateLimit-Limit": f"{self.limit:g}",
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }
        if not self.allowed:
            values["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return values


def refill(tokens: float, elapsed: float, bucket: Bucket) -> float:
    return min(bucket.burst, tokens + max(elapsed, 0.0) * bucket.rate)


def decide(buckets: list[Bucket], levels: list[float], allowed: bool | None = None) -> Decision:
    """Whether a request costing each bucket's ``cost`` fits the (refilled) ``levels``.

    ``allowed`` overrides the comparison when Redis already decided (and took the tokens).
    """
    if allowed is None:
        allowed = all(level + EPSILON >= b.cost for b, level in zip(buckets, levels, strict=True))
    waits = [max(0.0, (b.cost - level - EPSILON) / b.rate) for b, level in zip(buckets, levels, strict=True)]
    after = [level - b.cost if allowed else level for b, level in zip(buckets, levels, strict=True)]
    tight = min(range(len(buckets)), key=lambda i: after[i] / buckets[i].burst)
    bucket = buckets[tight]
    return Decision(
        allowed=allowed,
        limit=bucket.rate,
        remaining=math.floor(after[tight]),
        retry_after=0.0 if allowed else max(waits),
        reset=(bucket.burst - after[tight]) / bucket.rate,
    )


class LocalBuckets:
    """Per-worker buckets, for when Redis cannot be asked; bounded by dropping the stalest."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._max_keys = max_keys

    def take(self, buckets: list[Bucket], now: float) -> Decision:
        levels = []
        for bucket in buckets:
            tokens, at = self._state.get(bucket.name, (bucket.burst, now))
            levels.append(refill(tokens, now - at, bucket))
        decision = decide(buckets, levels)
        for bucket, level in zip(buckets, levels, strict=True):
            self._state[bucket.name] = (level - bucket.cost if decision.allowed else level, now)
        if len(self._state) > self._max_keys:
            for key, _ in sorted(self._state.items(), key=lambda kv: kv[1][1])[: len(self._state) // 2]:
                del self._state[key]
        return dataclasses.replace(decision, exact=False)


# KEYS: one per bucket. ARGV: rate, burst, cost for each bucket, in KEYS order.
# Returns, per bucket, its token level after refill (as a string: Lua numbers lose
# their fraction on the way out) and whether all were taken ("1") or none ("0").
TAKE_SCRIPT: Final = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rates, bursts, costs, levels = {}, {}, {}, {}
local ok = 1
for i, key in ipairs(KEYS) do
  rates[i] = tonumber(ARGV[3 * i - 2])
  bursts[i] = tonumber(ARGV[3 * i - 1])
  costs[i] = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or bursts[i]
  local at = tonumber(state[2]) or now
  levels[i] = math.min(bursts[i], tokens + math.max(now - at, 0) * rates[i])
  if levels[i] + 1e-9 < costs[i] then ok = 0 end
end
local out = {tostring(ok)}
for i, key in ipairs(KEYS) do
  local level = levels[i]
  if ok == 1 then level = level - costs[i] end
  redis.call('HSET', key, 'tokens', tostring(level), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(bursts[i] / rates[i] * 1000) + 1000)
  out[#out + 1] = tostring(levels[i])
end
return out
"""
