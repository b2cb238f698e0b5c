"""Token-bucket arithmetic (the per-worker fallback; Redis runs the same in Lua)."""

from __future__ import annotations

import pytest

from app.domain.buckets import Bucket, LocalBuckets, decide


def test_a_full_bucket_allows_its_burst_then_refuses_until_it_refills() -> None:
    bucket = Bucket("k:batch", rate=10, burst=20)
    local = LocalBuckets()
    allowed = [local.take([bucket], now=100.0).allowed for _ in range(25)]
    assert allowed.count(True) == 20 and allowed[20:] == [False] * 5
    refused = local.take([bucket], now=100.0)
    assert refused.retry_after == pytest.approx(0.1)
    assert refused.headers()["Retry-After"] == "1" and refused.headers()["X-RateLimit-Remaining"] == "0"
    assert local.take([bucket], now=100.1).allowed, "one token back after 1/rate seconds"
    assert not local.take([bucket], now=100.1).allowed
    assert sum(local.take([bucket], now=102.0).allowed for _ in range(30)) == 19, "refilled to the burst, no more"


def test_all_buckets_or_none() -> None:
    requests = Bucket("k:batch", rate=10, burst=20)
    events = Bucket("k:events", rate=1000, burst=2000, cost=1500)
    local = LocalBuckets()
    assert local.take([requests, events], now=0.0).allowed
    second = local.take([requests, events], now=0.0)
    assert not second.allowed, "500 events left, 1500 asked"
    assert second.retry_after == pytest.approx(1.0)
    assert second.limit == 1000, "the headers speak of the tightest bucket"
    small = Bucket("k:events", rate=1000, burst=2000, cost=400)
    assert local.take([requests, small], now=0.0).allowed, "the refused request took nothing"


def test_decisions_carry_limit_headers() -> None:
    decision = decide([Bucket("k:query", rate=50, burst=100)], [100.0])
    assert decision.allowed and decision.exact
    assert decision.headers() == {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "1"}
    refused = decide([Bucket("k:query", rate=50, burst=100)], [0.5])
    assert refused.headers()["Retry-After"] == "1" and not refused.allowed
    assert decide([Bucket("k:q", rate=1, burst=2)], [1.5], allowed=False).allowed is False, "Redis's verdict wins"


def test_the_fallback_forgets_the_stalest_clients_first() -> None:
    local = LocalBuckets(max_keys=10)
    for i in range(11):
        local.take([Bucket(f"client-{i}", rate=1, burst=1)], now=float(i))
    assert not local.take([Bucket("client-10", rate=1, burst=1)], now=10.0).allowed, "a recent client is remembered"
    assert local.take([Bucket("client-0", rate=1, burst=1)], now=10.0).allowed
