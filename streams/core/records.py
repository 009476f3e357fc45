"""Typed events: one frozen dataclass per schema in schemas/, built by codec.decode from the validated JSON. The
schemas stay the one source of truth: a unit test checks each record's fields against its schema's properties.
Nested values (turns, top_k, counts) keep their JSON form."""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from typing import ClassVar

SCHEMA_VERSION = "v1"  # of every schema and topic name (`callqa.<event>.v1`)
TASKS = ("product", "complaint")  # the business questions every call is attributed for
TRANSCRIPT_EVENTS = {"call_start": "call_start", "segment": "segment", "call_end": "call_end"}  # type -> schema


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    event: ClassVar[str]  # the schema's name

    @classmethod
    def from_dict(cls, record: dict) -> Record:
        return cls(**record)

    def to_dict(self) -> dict:
        """The JSON form: optional fields left unset are left out (the schemas forbid null where they are optional)."""
        return {name: value for name, value in ((f, getattr(self, f)) for f in _names(type(self)))
                if value is not None or name in _required(type(self))}


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@cache
def _required(cls: type) -> frozenset[str]:
    from streams.core.codec import schema  # the schema says which fields are required

    return frozenset(schema(cls.event).get("required", ()))


@dataclass(frozen=True, kw_only=True, slots=True)
class CallStart(Record):
    event: ClassVar[str] = "call_start"
    type: str = "call_start"
    call_id: str
    user_id: str
    agent_id: str | None = None
    event_time: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment(Record):
    event: ClassVar[str] = "segment"
    type: str = "segment"
    call_id: str
    user_id: str
    seq: int
    speaker: str
    text: str
    start_ms: int
    end_ms: int
    event_time: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CallEnd(Record):
    event: ClassVar[str] = "call_end"
    type: str = "call_end"
    call_id: str
    user_id: str
    segment_count: int
    event_time: int


TranscriptEvent = CallStart | Segment | CallEnd


@dataclass(frozen=True, kw_only=True, slots=True)
class Account(Record):
    event: ClassVar[str] = "account"
    user_id: str
    balance_yuan: float
    plan_name: str
    plan_fee_yuan: float
    data_allowance: str
    updated_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Label(Record):
    event: ClassVar[str] = "label"
    label_id: str
    task: str
    name: str
    description: str
    keywords: list[str]
    active: bool
    alert: bool | None = None  # unset: alerts on
    updated_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule(Record):
    event: ClassVar[str] = "rule"
    rule_id: str
    name: str
    description: str | None = None
    kind: str
    speaker: str | None = None  # unset: agent
    phrases: list[str] | None = None
    position: dict | None = None
    threshold: float | None = None
    applies_when: dict | None = None
    weight: float
    severity: str
    active: bool
    updated_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class HumanLabel(Record):
    event: ClassVar[str] = "human_label"
    call_id: str
    labels: dict[str, str] | None = None
    summary: str | None = None
    annotator: str | None = None
    event_time: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CallReady(Record):
    """A call's snapshot for attribution: turns in sequence order, gaps named."""
    event: ClassVar[str] = "call_ready"
    call_id: str
    user_id: str
    agent_id: str | None = None
    started_at: int | None = None
    final: bool
    turns: list[dict]  # speaker, text, and (from the assembler) seq, start_ms, end_ms
    segment_count: int
    missing_seqs: list[int]
    has_human_label: bool
    trigger_ts: int
    ready_ts: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Attribution(Record):
    event: ClassVar[str] = "attribution"
    idempotency_key: str
    call_id: str
    user_id: str
    task: str
    final: bool
    label_id: str
    label_name: str
    score: float
    margin: float
    top_k: list[dict]
    candidates: int
    candidate_source: str
    account_known: bool
    segment_count: int
    alerts_withheld: str | None = None
    model_version: str
    template_version: str
    timings_ms: dict[str, float]
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert(Record):
    event: ClassVar[str] = "alert"
    idempotency_key: str
    alert_id: str
    kind: str
    call_id: str
    user_id: str
    task: str | None = None  # the model's alerts (complaint, review) name what was attributed
    label_id: str | None = None
    label_name: str | None = None
    score: float | None = None
    margin: float | None = None
    rule_id: str | None = None  # a rule's alert (forbidden_phrase) names the rule, the phrase and the segment
    rule_name: str | None = None
    severity: str | None = None
    phrase: str | None = None
    seq: int | None = None
    reason: str
    model_version: str | None = None
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Scorecard(Record):
    event: ClassVar[str] = "scorecard"
    idempotency_key: str
    call_id: str
    user_id: str
    agent_id: str | None = None
    score: float
    critical_failed: bool
    rules: list[dict]
    talk: dict[str, float]
    attributions: list[dict]
    segment_count: int
    started_at: int | None = None
    model_version: str
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CallVector(Record):
    event: ClassVar[str] = "call_vector"
    idempotency_key: str
    call_id: str
    user_id: str
    task: str
    vector: list[float]
    snippet: str
    started_at: int | None = None
    model_version: str
    template_version: str
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertAck(Record):
    event: ClassVar[str] = "alert_ack"
    alert_id: str
    call_id: str
    acknowledged_by: str
    note: str | None = None
    acknowledged_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PseudoLabel(Record):
    event: ClassVar[str] = "pseudo_label"
    idempotency_key: str
    call_id: str
    user_id: str
    context_text: str
    summary_sentences: list[str]
    summary: str
    template_version: str
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LabelCount(Record):
    event: ClassVar[str] = "label_count"
    label_id: str
    task: str
    label_name: str
    counts: dict[str, int]
    rise: float
    per_minute: list[dict]
    window_end: int
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Health(Record):
    event: ClassVar[str] = "health"
    idempotency_key: str
    worker: str
    component: str
    status: str
    since: int
    detail: str
    produced_at: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter(Record):
    event: ClassVar[str] = "dead_letter"
    idempotency_key: str
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None
    key_bytes: int | None = None
    value_b64: str
    value_bytes: int
    reason: str
    detail: str
    produced_at: int


RECORDS: dict[str, type[Record]] = {cls.event: cls for cls in (
    CallStart, Segment, CallEnd, Account, Label, Rule, HumanLabel, CallReady, Attribution, Alert, Scorecard, CallVector,
    AlertAck, PseudoLabel, LabelCount, Health, DeadLetter)}

