"""When the syslog listeners are on: a sender presents no key, so with auth on they listen only when asked."""

from __future__ import annotations

import pytest

from app.agents.syslog_listener import syslog_enabled
from app.settings import Settings

KEYS = '{"' + "0" * 64 + '": {"roles": ["admin"]}}'


@pytest.mark.parametrize(
    ("enabled", "auth", "listening"),
    [(None, False, True), (None, True, False), (True, True, True), (False, False, False)],
)
def test_syslog_listens_unasked_only_while_auth_is_off(enabled: bool | None, auth: bool, listening: bool) -> None:
    settings = Settings(syslog_enabled=enabled, auth_enabled=auth, api_keys=KEYS)
    assert syslog_enabled(settings) is listening
