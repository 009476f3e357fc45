"""A rule record's checks beyond its schema (streams/worker/steps/rules.py judges calls with the rules; the dashboard
checks a rule before it publishes one)."""
from __future__ import annotations

from typing import Iterable

from streams.core.errors import DecodeError
from streams.core.records import TASKS, Rule

PHRASE_KINDS = ("forbidden", "required")


def check_rule(rule: Rule, tasks: Iterable[str] = TASKS) -> None:
    """What the schema cannot say: a rule that is valid JSON but could never be judged is a dead letter."""
    if rule.applies_when is not None and rule.applies_when["task"] not in tasks:
        raise DecodeError("unknown_task", f"rule {rule.rule_id}: applies_when.task {rule.applies_when['task']!r} is not "
                                          f"one of {sorted(tasks)}")
    if rule.kind in PHRASE_KINDS and not rule.phrases:
        raise DecodeError("rule_invalid", f"rule {rule.rule_id}: no phrase left after normalisation")
    if rule.position is not None and rule.position.get("within") in ("first", "last") and "segments" not in rule.position:
        raise DecodeError("rule_invalid", f"rule {rule.rule_id}: position within {rule.position['within']} needs segments")
