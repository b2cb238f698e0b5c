"""The log rules file as a worker reads it at start: no file, a good one, one it cannot use (with line and reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.agents.log_rules import read_rules
from app.errors import ConfigError, RulesError


def test_no_file_means_no_rules() -> None:
    assert read_rules(None) == ()


def test_a_file_s_rules_in_order(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: a\n    window: 5m\n  - name: b\n    fields: {status: 500}\n    window: 1h\n")
    assert [rule.name for rule in read_rules(str(path))] == ["a", "b"]


def test_a_wrong_rule_is_refused_with_its_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: a\n    window: 5m\n  - name: b\n    widnow: 5m\n")
    with pytest.raises(RulesError) as caught:
        read_rules(str(path))
    assert str(caught.value) == f"{path}:5:5: rule 'b': unknown key 'widnow' (did you mean 'window'?)"


@pytest.mark.parametrize("content", [None, b"rules: [\xff]\n"])
def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "rules.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        read_rules(str(path))
    assert str(caught.value).startswith(f"LOG_RULES_FILE {path}: cannot be read")
