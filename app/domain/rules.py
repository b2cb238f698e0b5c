"""Alert rules on log queries, read from the YAML file ``LOG_RULES_FILE``.

::

    rules:
      - name: payment_errors          # [a-zA-Z_][a-zA-Z0-9_]*, unique: the rule label of
                                      # logpipe_log_rule_matches{rule}
        level: [ERROR, FATAL]         # optional, one or a list
        source: payments              # optional
        organization_id: acme         # optional
        q: "timeout OR refused"       # optional full text (websearch syntax, as q= on the API)
        fields: {status: "500"}       # optional, each as field.KEY= on the API; a list is any of
        window: 5m                    # required: a number and s, m, h or d; 10s to 7d

A mistake is reported as ``file:line:column: rule 'name': key: reason``, the
position of the offending node, so an operator can fix a file that stops a
worker from starting without guessing. Only PyYAML's safe composer reads
the file (nodes, never objects). Unknown keys are errors with the closest
known key suggested: a misspelt ``widnow`` silently ignored would be a rule
that alerts on something else. A file that is empty, or whose ``rules`` is
empty, has no rules: a deployment may ship the file before any rule.

A ``fields`` value is taken literally (a comma in it is a comma): YAML has
lists for any-of, so the query string's ``\\,`` escaping is not needed here.
A plain YAML number or boolean is the text written (``status: 500`` is
``"500"``), which matches as ``field.status=500`` does.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import yaml

from app.domain.field_filters import MAX_FIELD_FILTERS, FieldFilter, field_filter
from app.domain.query import LogQuery
from app.errors import QueryError, RulesError
from app.models import ID_MAX_CHARS, LEVELS, SOURCE_MAX_CHARS, normalise_level

RULE_KEYS: Final = ("name", "level", "source", "organization_id", "q", "fields", "window")
MIN_WINDOW: Final = timedelta(seconds=10)
MAX_WINDOW: Final = timedelta(days=7)
MAX_RULES: Final = 200  # each is a periodic query and a metric series
NAME_MAX_CHARS: Final = 100
_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DURATION: Final = re.compile(r"([0-9]{1,7})([smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NULL: Final = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class LogRule:
    """One rule: events matching ``query`` and ``fields`` within the last ``window``.

    ``query`` is an :class:`app.domain.query.LogQuery` with only its filters set
    (levels, source, organization, text); ``fields`` are kept beside it, as
    the file gives them (:mod:`app.agents.log_rules` counts the query with
    them as its ``fields``). ``line`` is where the rule starts in its file,
    for messages about it later.
    """

    name: str
    query: LogQuery
    fields: tuple[FieldFilter, ...]
    window: timedelta
    line: int


@dataclass(frozen=True, slots=True)
class _Where:
    source: str
    rule: str = ""

    def error(self, node: Any, reason: str) -> RulesError:
        mark = node.start_mark
        return RulesError(self.source, mark.line + 1, mark.column + 1, self.rule + reason)


def load_rules(text: str, *, source_name: str) -> list[LogRule]:
    """The rules of a YAML document, in file order; raises :class:`RulesError` at the first mistake."""
    where = _Where(source_name)
    root = _compose(text, where)
    if root is None or root.tag == _NULL:
        return []
    rules_node = _mapping(root, where, "the file", ("rules",)).get("rules")
    if rules_node is None or rules_node[1].tag == _NULL:
        return []
    items = rules_node[1]
    if not isinstance(items, yaml.SequenceNode):
        raise where.error(items, "rules: must be a list of rules")
    if len(items.value) > MAX_RULES:
        raise where.error(items, f"rules: at most {MAX_RULES} rules are allowed")
    seen: dict[str, int] = {}
    return [_rule(item, index, where, seen) for index, item in enumerate(items.value)]


def _compose(text: str, where: _Where) -> Any:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        expected = exc.context if exc.context and exc.context.startswith("expected") else None
        reason = " ".join(part for part in (expected, exc.problem or exc.context) if part)
        raise RulesError(where.source, line, column, f"not valid YAML: {reason}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; it carries an offset, not a mark
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        reason = f"not valid YAML: character #x{exc.character:04x}: {exc.reason}"
        raise RulesError(where.source, line, column, reason) from None
    except yaml.YAMLError as exc:
        raise RulesError(where.source, 1, 1, f"not valid YAML: {exc}") from None


def _mapping(node: Any, where: _Where, what: str, known: tuple[str, ...] | None) -> dict[str, tuple[Any, Any]]:
    """A mapping's entries by key text; unknown (when ``known`` is given) and repeated keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        expected = ", ".join(known) if known else "keys and values"
        raise where.error(node, f"{what} must be a mapping ({expected})")
    entries: dict[str, tuple[Any, Any]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise where.error(key_node, f"{what}: keys must be plain words")
        key = key_node.value
        if known is not None and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            raise where.error(key_node, f"unknown key '{key}' ({hint})")
        if key in entries:
            first = entries[key][0].start_mark.line + 1
            raise where.error(key_node, f"{key}: given twice (first on line {first})")
        entries[key] = (key_node, value_node)
    return entries


def _rule(node: Any, index: int, where: _Where, seen: dict[str, int]) -> LogRule:
    where = dataclasses.replace(where, rule=_label(node, index))
    entries = _mapping(node, where, "a rule", RULE_KEYS)
    if "name" not in entries:
        raise where.error(node, "name: is required")
    name_node = entries["name"][1]
    name = _scalar(name_node, where, "name")
    if not _NAME.fullmatch(name) or len(name) > NAME_MAX_CHARS:
        raise where.error(name_node, f"name: must match [a-zA-Z_][a-zA-Z0-9_]*, at most {NAME_MAX_CHARS} characters")
    line = node.start_mark.line + 1
    if name in seen:
        raise where.error(name_node, f"name: also the name of the rule on line {seen[name]}; names must be unique")
    seen[name] = line
    if "window" not in entries:
        raise where.error(node, "window: is required")
    fields = _fields(entries["fields"][1], where) if "fields" in entries else ()
    return LogRule(name, _query(entries, where), fields, _window(entries["window"][1], where), line)


def _label(node: Any, index: int) -> str:
    """``rule 'name': `` when the rule has a valid name, else ``rule #3: ``, for its messages."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "name" and isinstance(value_node, yaml.ScalarNode):
                if _NAME.fullmatch(value_node.value) and len(value_node.value) <= NAME_MAX_CHARS:
                    return f"rule '{value_node.value}': "
    return f"rule #{index + 1}: "


def _query(entries: dict[str, tuple[Any, Any]], where: _Where) -> LogQuery:
    levels = _levels(entries["level"][1], where) if "level" in entries else ()
    source = _name_value(entries, "source", SOURCE_MAX_CHARS, where)
    organization_id = _name_value(entries, "organization_id", ID_MAX_CHARS, where)
    text = None
    if "q" in entries:
        text = _scalar(entries["q"][1], where, "q").strip()
        if not text or "\x00" in text:
            raise where.error(entries["q"][1], "q: must be non-empty text without NUL characters")
    return LogQuery(levels=levels, source=source, organization_id=organization_id, text=text)


def _scalar(node: Any, where: _Where, key: str) -> str:
    """The text of a single value as written (``500`` is ``"500"``)."""
    if not isinstance(node, yaml.ScalarNode):
        raise where.error(node, f"{key}: must be a single value, not a list or mapping")
    if node.tag == _NULL:
        raise where.error(node, f"{key}: must not be empty")
    return str(node.value)


def _scalars(node: Any, where: _Where, key: str) -> list[tuple[Any, str]]:
    """One value or a non-empty list of them, each with its node."""
    if not isinstance(node, yaml.SequenceNode):
        return [(node, _scalar(node, where, key))]
    if not node.value:
        raise where.error(node, f"{key}: must list at least one value")
    return [(item, _scalar(item, where, key)) for item in node.value]


def _levels(node: Any, where: _Where) -> tuple[str, ...]:
    levels = set()
    for item, text in _scalars(node, where, "level"):
        try:
            levels.add(normalise_level(text))
        except ValueError:
            raise where.error(item, f"level: must be one of {', '.join(LEVELS)} (got {text[:40]!r})") from None
    return tuple(sorted(levels))


def _name_value(entries: dict[str, tuple[Any, Any]], key: str, max_chars: int, where: _Where) -> str | None:
    if key not in entries:
        return None
    node = entries[key][1]
    text = _scalar(node, where, key)
    if not text or len(text) > max_chars or not text.isprintable():
        raise where.error(node, f"{key}: must be 1 to {max_chars} printable characters")
    return text


def _fields(node: Any, where: _Where) -> tuple[FieldFilter, ...]:
    entries = _mapping(node, where, "fields", None)
    if len(entries) > MAX_FIELD_FILTERS:
        raise where.error(node, f"fields: at most {MAX_FIELD_FILTERS} fields are allowed")
    filters = []
    for key, (key_node, value_node) in sorted(entries.items()):
        values = [text for _, text in _scalars(value_node, where, f"fields.{key}")]
        try:
            filters.append(field_filter(key, values))
        except QueryError as exc:
            raise where.error(key_node, f"fields.{key[:160]}: {exc.message}") from None
    return tuple(filters)


def _window(node: Any, where: _Where) -> timedelta:
    text = _scalar(node, where, "window")
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise where.error(node, f"window: must be a duration like 30s, 5m, 1h (got {text[:40]!r})")
    window = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise where.error(node, f"window: must be between 10s and 7d (got {text[:40]!r})")
    return window
