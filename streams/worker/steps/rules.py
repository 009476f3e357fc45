"""The QA rules (pure): agent-speech phrases matched with one Aho-Corasick automaton over every active rule's phrases
(literal matching: a phrase that looks like a regular expression is just text), timing rules from the segments' own
times, and the call's score.

A rule book is compiled from the rule table's values; `RuleBooks` recompiles it when the table changed, looking at
most once per `refresh_s`, so a rule added or removed on its topic is in force for the next call within seconds."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import ahocorasick
import orjson

from streams.core.records import Rule


@dataclass(frozen=True)
class Hit:
    rule_id: str
    phrase: str
    before: bool = False  # a before_phrase of the rule (e.g. account details read out), not one of its phrases


@dataclass(frozen=True)
class Talk:
    agent_ms: int
    customer_ms: int
    agent_ratio: float
    longest_silence_ms: int
    silence_after_seq: int | None  # the segment the longest silence follows
    longest_overlap_ms: int
    overlap_seq: int | None  # the agent segment of the longest overlap
    overlaps: int

    def to_dict(self) -> dict:
        return {"agent_ms": self.agent_ms, "customer_ms": self.customer_ms, "agent_ratio": self.agent_ratio,
                "longest_silence_ms": self.longest_silence_ms, "longest_overlap_ms": self.longest_overlap_ms,
                "overlaps": self.overlaps}


def talk_figures(turns: list[dict]) -> Talk:
    """Talk time per side, the longest gap between segments, and the agent talking over the customer: an agent
    segment that starts while a customer segment is still going (its overlap: until the first of the two ends)."""
    timed = sorted((t for t in turns if "start_ms" in t and "end_ms" in t), key=lambda t: (t["start_ms"], t.get("seq", 0)))
    spoken = {"agent": 0, "customer": 0}
    silence, silence_after, last_end, last_seq = 0, None, None, None
    for turn in timed:
        spoken[turn["speaker"]] += max(0, turn["end_ms"] - turn["start_ms"])
        if last_end is not None and turn["start_ms"] - last_end > silence:
            silence, silence_after = turn["start_ms"] - last_end, last_seq
        if last_end is None or turn["end_ms"] >= last_end:
            last_end, last_seq = turn["end_ms"], turn.get("seq")
    overlap, overlap_seq, overlaps = 0, None, 0
    customer = [t for t in timed if t["speaker"] == "customer"]
    for agent in (t for t in timed if t["speaker"] == "agent"):
        longest = max((min(agent["end_ms"], c["end_ms"]) - agent["start_ms"] for c in customer
                       if c["start_ms"] <= agent["start_ms"] < c["end_ms"]), default=0)
        if longest > 0:
            overlaps += 1
            if longest > overlap:
                overlap, overlap_seq = longest, agent.get("seq")
    total = spoken["agent"] + spoken["customer"]
    return Talk(spoken["agent"], spoken["customer"], round(spoken["agent"] / total, 4) if total else 0.0,
                silence, silence_after, overlap, overlap_seq, overlaps)


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    outcome: str  # pass | fail | n/a
    seq: int | None
    detail: str

    def to_dict(self) -> dict:
        found = {"rule_id": self.rule.rule_id, "name": self.rule.name, "kind": self.rule.kind,
                 "severity": self.rule.severity, "weight": self.rule.weight, "outcome": self.outcome, "detail": self.detail}
        return found | ({"seq": self.seq} if self.seq is not None else {})


@dataclass(frozen=True)
class Score:
    score: float
    critical_failed: bool


def score(results: list[RuleResult]) -> Score:
    """100 x the weight passed / the weight of the rules that apply (100 when none weighs anything); a failed critical
    rule (致命项) makes it 0, as QA scorecards do."""
    judged = [r for r in results if r.outcome != "n/a"]
    critical = any(r.outcome == "fail" and r.rule.severity == "critical" for r in judged)
    total = sum(r.rule.weight for r in judged)
    passed = sum(r.rule.weight for r in judged if r.outcome == "pass")
    value = 0.0 if critical else (100.0 if total == 0 else round(100.0 * passed / total, 1))
    return Score(value, critical)


class RuleBook:
    """The active rules, compiled: one automaton for every phrase of every phrase rule."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = {r.rule_id: r for r in sorted(rules, key=lambda r: r.rule_id) if r.active}
        by_phrase: dict[str, list[Hit]] = {}
        for rule in self.rules.values():
            for phrase in rule.phrases or ():
                by_phrase.setdefault(phrase.lower(), []).append(Hit(rule.rule_id, phrase))
            for phrase in (rule.position or {}).get("before_phrases", ()):
                by_phrase.setdefault(phrase.lower(), []).append(Hit(rule.rule_id, phrase, before=True))
        self.automaton = None
        if by_phrase:
            self.automaton = ahocorasick.Automaton()
            for phrase, hits in by_phrase.items():
                self.automaton.add_word(phrase, tuple(hits))
            self.automaton.make_automaton()

    def hits(self, text: str) -> list[Hit]:
        """Every (rule, phrase) found in the text, each once, in the order they end in the text."""
        if self.automaton is None or not text:
            return []
        found, seen = [], set()
        for _, hits in self.automaton.iter(text.lower()):
            for hit in hits:
                if hit not in seen:
                    seen.add(hit)
                    found.append(hit)
        return found

    def forbidden(self, text: str, speaker: str) -> list[tuple[Rule, str]]:
        """Forbidden phrases of unconditional rules said by `speaker`: alerted as the segment arrives (a rule that
        applies only to some calls is judged at the call's end, when its attribution is known)."""
        found, rules = [], set()
        for hit in self.hits(text):
            rule = self.rules[hit.rule_id]
            if (not hit.before and rule.kind == "forbidden" and rule.applies_when is None
                    and (rule.speaker or "agent") == speaker and rule.rule_id not in rules):
                rules.add(rule.rule_id)
                found.append((rule, hit.phrase))
        return found

    def judge(self, turns: list[dict], labels: dict[str, str]) -> tuple[list[RuleResult], Talk]:
        """Every active rule's result for a finished call; `labels` is its final label id per task."""
        hits = [self.hits(t["text"]) for t in turns]
        talk = talk_figures(turns)
        return [self._judge(rule, turns, hits, talk, labels) for rule in self.rules.values()], talk

    def _judge(self, rule: Rule, turns: list[dict], hits: list[list[Hit]], talk: Talk, labels: dict) -> RuleResult:
        when = rule.applies_when
        if when is not None and labels.get(when["task"]) not in when["label_ids"]:
            return RuleResult(rule, "n/a", None, f"{when['task']} is {labels.get(when['task'])}")
        speaker = rule.speaker or "agent"
        said = [(i, next((h.phrase for h in hits[i] if h.rule_id == rule.rule_id and not h.before), None))
                for i, t in enumerate(turns) if t["speaker"] == speaker]
        if rule.kind == "forbidden":
            first = next(((i, p) for i, p in said if p is not None), None)
            if first is None:
                return RuleResult(rule, "pass", None, "")
            return RuleResult(rule, "fail", turns[first[0]].get("seq"), f"说了「{first[1]}」")
        if rule.kind == "required":
            return self._required(rule, turns, hits, said)
        if rule.kind == "max_silence":
            failed = talk.longest_silence_ms > rule.threshold
            return RuleResult(rule, "fail" if failed else "pass", talk.silence_after_seq if failed else None,
                              f"最长静音 {talk.longest_silence_ms / 1000:.1f}s（上限 {rule.threshold / 1000:.1f}s）")
        if rule.kind == "max_overlap":
            failed = talk.longest_overlap_ms > rule.threshold
            return RuleResult(rule, "fail" if failed else "pass", talk.overlap_seq if failed else None,
                              f"最长抢话 {talk.longest_overlap_ms / 1000:.1f}s，共 {talk.overlaps} 次（上限 {rule.threshold / 1000:.1f}s）")
        ratio = talk.agent_ratio if speaker == "agent" else (1 - talk.agent_ratio if talk.agent_ms + talk.customer_ms else 0.0)
        return RuleResult(rule, "fail" if ratio > rule.threshold else "pass", None,
                          f"说话占比 {ratio:.0%}（上限 {rule.threshold:.0%}）")

    def _required(self, rule: Rule, turns: list[dict], hits: list[list[Hit]], said: list) -> RuleResult:
        position = rule.position
        within, k = position["within"], position.get("segments")
        window = said[:k] if within == "first" else said[-k:] if within == "last" else said
        if position.get("before_phrases"):
            first_before = next((i for i, found in enumerate(hits)
                                 if any(h.rule_id == rule.rule_id and h.before for h in found)), None)
            if first_before is None:
                return RuleResult(rule, "n/a", None, "未出现需先核实的内容")
            window = [(i, p) for i, p in window if i < first_before]
            where = f"第 {turns[first_before].get('seq', first_before)} 段之前"
        else:
            where = {"first": f"前 {k} 句", "last": f"最后 {k} 句", "anywhere": "通话中"}[within]
        found = next(((i, p) for i, p in window if p is not None), None)
        if found is None:
            decided = turns[first_before].get("seq") if position.get("before_phrases") else None
            return RuleResult(rule, "fail", decided, f"{where}未说{rule.name}")
        return RuleResult(rule, "pass", turns[found[0]].get("seq"), f"说了「{found[1]}」")


@dataclass
class RuleBooks:
    """The worker's current rule book, recompiled when the rule table's values change (looked at once per
    `refresh_s`: comparing 5,000 rules costs about a millisecond)."""

    values: Callable[[], Iterable[dict]]  # the rule table's values (JSON form)
    refresh_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    book: RuleBook = field(default_factory=lambda: RuleBook(()))
    _seen: bytes = b"[]"
    _checked: float = float("-inf")

    def current(self) -> RuleBook:
        now = self.clock()
        if now - self._checked >= self.refresh_s:
            self._checked = now
            values = sorted((v for v in self.values() if v), key=lambda v: v["rule_id"])
            seen = orjson.dumps(values)
            if seen != self._seen:
                self.book, self._seen = RuleBook(Rule.from_dict(v) for v in values), seen
        return self.book
