"""Which processes the bench counts as other logpipe workers sharing its cores."""

from __future__ import annotations

import pytest

from bench.profile import is_worker


@pytest.mark.parametrize(
    ("cmdline", "worker"),
    [
        (["/w/.venv/bin/python", "-m", "app", "worker", "--loglevel", "info"], True),
        (["/w/.venv/bin/python", "/w/.venv/bin/logpipe", "worker", "--web-port", "6067"], True),
        (["logpipe", "worker"], True),
        (["/w/.venv/bin/python", "-m", "bench", "--rows", "1000"], False),
        (["/w/.venv/bin/python", "-m", "app", "migrate"], False),
        (["/usr/bin/python3", "-m", "pytest", "tests/worker"], False),
        ([], False),
    ],
)
def test_is_worker(cmdline: list[str], worker: bool) -> None:
    assert is_worker(cmdline) is worker
