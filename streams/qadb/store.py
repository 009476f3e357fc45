"""Records -> rows: one upsert per table, keyed as consumers de-duplicate (README, "Delivery guarantees"). The first
record of an idempotency key stays (a redelivered one changes nothing); a human label is the latest of its call on
the topic (its Kafka position guards the upsert). A batch is written in the caller's transaction."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from streams.core.records import (Alert, Attribution, CallVector, DeadLetter, HumanLabel, PseudoLabel, Record,
                                  Scorecard)
from streams.core.settings import Settings

# output event -> its table (human labels are the one input stored: the spot checks the model is compared with)
TABLES = {"attribution": "attributions", "alert": "alerts", "scorecard": "scorecards", "pseudo_label": "pseudo_labels",
          "dead_letter": "dead_letters", "human_label": "human_labels", "call_vector": "call_vectors"}
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True, slots=True)
class Item:
    """One record read from a topic: its event, Kafka position and decoded record; for a human label's tombstone
    `record` is None and `key` names the call it deletes."""
    event: str
    partition: int
    offset: int
    record: Record | None
    key: str | None = None


def connect(settings: Settings | str):
    """An autocommit connection (callers open transactions). Vectors travel in pgvector's text form ('[1,2,3]' cast
    to vector), so no connection needs the extension's type registered before the migrations created it."""
    import psycopg

    dsn = settings.database_dsn() if isinstance(settings, Settings) else settings
    return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name="callqa")


def vector_text(vector) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(f"{float(x):.6g}" for x in vector) + "]"


def reachable(settings: Settings) -> bool:
    """Whether the QA database answers (`callqa check` compares with it only then, unless told)."""
    import psycopg

    try:
        with psycopg.connect(settings.database_dsn(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def clean(value):
    """PostgreSQL text and JSONB refuse NUL characters (JSON allows \\u0000): replaced, so such a record is stored."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _json(value):
    from psycopg.types.json import Jsonb

    return Jsonb(clean(value))


def _attribution(a: Attribution, item: Item) -> tuple:
    return (a.idempotency_key, a.call_id, a.user_id, a.task, a.final, a.label_id, clean(a.label_name), a.score,
            a.margin, _json(a.top_k), a.candidates, a.candidate_source, a.account_known, a.segment_count,
            a.alerts_withheld, a.model_version, a.template_version, _json(a.timings_ms), when(a.produced_at),
            item.partition, item.offset)


def _alert(a: Alert, item: Item) -> tuple:
    return (a.idempotency_key, a.alert_id, a.kind, a.call_id, a.user_id, a.task, a.label_id, clean(a.label_name),
            a.score, a.margin, a.rule_id, clean(a.rule_name), a.severity, clean(a.phrase), a.seq, clean(a.reason),
            a.model_version, when(a.produced_at), item.partition, item.offset)


def _scorecard(s: Scorecard, item: Item) -> tuple:
    return (s.idempotency_key, s.call_id, s.user_id, s.agent_id, s.score, s.critical_failed, _json(s.rules),
            _json(s.talk), _json(s.attributions), s.segment_count, when(s.started_at), s.model_version,
            when(s.produced_at), when(s.started_at if s.started_at is not None else s.produced_at), item.partition,
            item.offset)


def _pseudo_label(p: PseudoLabel, item: Item) -> tuple:
    return (p.idempotency_key, p.call_id, p.user_id, clean(p.context_text), _json(p.summary_sentences),
            clean(p.summary), p.template_version, when(p.produced_at), item.partition, item.offset)


def _dead_letter(d: DeadLetter, item: Item) -> tuple:
    return (d.idempotency_key, clean(d.source_topic), d.source_partition, d.source_offset, d.reason, clean(d.detail),
            d.key_bytes, d.value_bytes, when(d.produced_at), item.partition, item.offset)


# table -> (columns, row builder); every one of them inserted with ON CONFLICT (idempotency_key) DO NOTHING
INSERTS = {
    "attributions": ("idempotency_key, call_id, user_id, task, final, label_id, label_name, score, margin, top_k, "
                     "candidates, candidate_source, account_known, segment_count, alerts_withheld, model_version, "
                     "template_version, timings_ms, produced_at, kafka_partition, kafka_offset", _attribution),
    "alerts": ("idempotency_key, alert_id, kind, call_id, user_id, task, label_id, label_name, score, margin, rule_id, "
               "rule_name, severity, phrase, seq, reason, model_version, produced_at, kafka_partition, kafka_offset",
               _alert),
    "scorecards": ("idempotency_key, call_id, user_id, agent_id, score, critical_failed, rules, talk, attributions, "
                   "segment_count, started_at, model_version, produced_at, call_time, kafka_partition, kafka_offset",
                   _scorecard),
    "pseudo_labels": ("idempotency_key, call_id, user_id, context_text, summary_sentences, summary, template_version, "
                      "produced_at, kafka_partition, kafka_offset", _pseudo_label),
    "dead_letters": ("idempotency_key, source_topic, source_partition, source_offset, reason, detail, key_bytes, "
                     "value_bytes, produced_at, kafka_partition, kafka_offset", _dead_letter),
}
UPSERT_HUMAN_LABEL = """
INSERT INTO human_labels (call_id, labels, summary, annotator, event_time, kafka_partition, kafka_offset)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (call_id) DO UPDATE SET labels = EXCLUDED.labels, summary = EXCLUDED.summary,
    annotator = EXCLUDED.annotator, event_time = EXCLUDED.event_time, kafka_partition = EXCLUDED.kafka_partition,
    kafka_offset = EXCLUDED.kafka_offset, stored_at = now()
WHERE human_labels.kafka_partition <> EXCLUDED.kafka_partition OR human_labels.kafka_offset < EXCLUDED.kafka_offset
"""
# After new final attributions: per (call, task) only the newest (produced last) is `current`.
MARK_CURRENT = """
UPDATE attributions a SET current = (a.idempotency_key = newest.idempotency_key)
FROM (SELECT DISTINCT ON (call_id, task) call_id, task, idempotency_key FROM attributions
      WHERE final AND (call_id, task) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
      ORDER BY call_id, task, produced_at DESC, idempotency_key DESC) newest
WHERE a.final AND a.call_id = newest.call_id AND a.task = newest.task
  AND a.current IS DISTINCT FROM (a.idempotency_key = newest.idempotency_key)
"""
DELETE_HUMAN_LABEL = "DELETE FROM human_labels WHERE call_id = %s AND (kafka_partition <> %s OR kafka_offset < %s)"
INSERT_RULE = ("INSERT INTO scorecard_rules (scorecard_key, position, call_id, agent_id, call_time, rule_id, name, "
               "kind, severity, weight, outcome, seq, detail) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")


def write(conn, items: Iterable[Item], vector_dim: int = 0) -> dict[str, int]:
    """Store a batch in the caller's transaction; returns the rows new per table (the rest were already there).
    Within the batch the first record of a key stands, like in the table, and the last human label of a call.
    `vector_dim`: CALLQA_CALL_VECTOR_DIM (ensure_vector_dim)."""
    by_table: dict[str, dict[str, Item]] = {table: {} for table in (*INSERTS, "call_vectors")}
    human: dict[str, Item] = {}
    for item in items:
        table = TABLES[item.event]
        if table == "human_labels":
            call_id = item.key if item.record is None else item.record.call_id
            human[call_id] = item
        else:
            by_table[table].setdefault(item.record.idempotency_key, item)
    new = {}
    with conn.cursor() as cur:
        for table, (columns, row) in INSERTS.items():
            chosen = list(by_table[table].values())
            keys = _insert_new(cur, table, columns, [row(item.record, item) for item in chosen])
            new[table] = len(keys)
            if table == "scorecards" and keys:
                _insert_rules(cur, [item.record for item in chosen if item.record.idempotency_key in keys])
            if table == "attributions" and keys:
                _mark_current(cur, {(i.record.call_id, i.record.task) for i in chosen
                                     if i.record.final and i.record.idempotency_key in keys})
        new["call_vectors"] = _insert_vectors(conn, cur, list(by_table["call_vectors"].values()), vector_dim)
        upserts = [item for item in human.values() if item.record is not None]
        deletes = [(call_id, item.partition, item.offset) for call_id, item in human.items() if item.record is None]
        new["human_labels"] = _changed(cur, UPSERT_HUMAN_LABEL, [_human_label(item.record, item) for item in upserts])
        if deletes:
            cur.executemany(DELETE_HUMAN_LABEL, deletes)
    return new


def _human_label(h: HumanLabel, item: Item) -> tuple:
    return (h.call_id, _json(h.labels) if h.labels is not None else None, clean(h.summary), h.annotator,
            when(h.event_time), item.partition, item.offset)


def _insert_new(cur, table: str, columns: str, rows: Sequence[tuple]) -> set[str]:
    """Insert the rows whose idempotency key is new; returns those keys."""
    if not rows:
        return set()
    marks = ", ".join(["%s"] * len(rows[0]))
    return set(_returned(cur, f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT (idempotency_key) "
                              "DO NOTHING RETURNING idempotency_key", rows))


def _changed(cur, upsert: str, rows: Sequence[tuple]) -> int:
    """Rows an upsert inserted or updated (not those its WHERE kept as they were)."""
    return len(_returned(cur, upsert + " RETURNING call_id", rows)) if rows else 0


def _returned(cur, sql: str, rows: Sequence[tuple]) -> list:
    """executemany, and the first column of every row each statement returned."""
    cur.executemany(sql, rows, returning=True)
    found = []
    while True:
        found += [row[0] for row in cur.fetchall()]
        if not cur.nextset():
            return found


def _mark_current(cur, calls_tasks: set[tuple[str, str]]) -> None:
    """Move `current` to the newest final attribution of each (call, task) that just got a new one."""
    if calls_tasks:
        calls, tasks = zip(*sorted(calls_tasks))
        cur.execute(MARK_CURRENT, (list(calls), list(tasks)))


def _insert_rules(cur, scorecards: list[Scorecard]) -> None:
    """One row per rule result of the scorecards just stored (only those: a redelivered scorecard changes nothing)."""
    rows = []
    for s in scorecards:
        call_time = when(s.started_at if s.started_at is not None else s.produced_at)
        rows += [(s.idempotency_key, i, s.call_id, s.agent_id, call_time, r["rule_id"], clean(r["name"]), r["kind"],
                  r["severity"], r["weight"], r["outcome"], r.get("seq"), clean(r["detail"]))
                 for i, r in enumerate(s.rules)]
    if rows:
        cur.executemany(INSERT_RULE, rows)


def counts(conn) -> dict[str, int]:
    """Rows per table (final attributions on their own): what the demo shows and `callqa check` compares."""
    out = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
           for table in (*TABLES.values(), "scorecard_rules", "label_backfills", "backfilled_attributions")}
    out["attributions.final"] = conn.execute("SELECT count(*) FROM attributions WHERE final").fetchone()[0]
    return out


def ensure_vector_dim(conn, dim: int) -> int:
    """Fix call_vectors.vector to `dim` dimensions and add the HNSW index for cosine search, once (an index needs a
    fixed dimension, the migration cannot know it); returns the column's dimension. Call in a transaction."""
    current = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = 'call_vectors'::regclass "
                           "AND attname = 'vector'").fetchone()[0]
    if current > 0:
        return current
    conn.execute(f"ALTER TABLE call_vectors ALTER COLUMN vector TYPE vector({int(dim)})")
    conn.execute("CREATE INDEX IF NOT EXISTS call_vectors_hnsw ON call_vectors USING hnsw (vector vector_cosine_ops)")
    return dim


INSERT_VECTOR = ("INSERT INTO call_vectors (call_id, task, model_version, vector, produced_at, user_id, snippet, "
                 "template_version, call_time, kafka_partition, kafka_offset) "
                 "VALUES (%s, %s, %s, %s::vector, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING call_id")


def _insert_vectors(conn, cur, items: list[Item], dim: int) -> int:
    """Store call vectors (keyed by call, task and model version, the first standing); returns the rows new."""
    if not items:
        return 0
    ensure_vector_dim(conn, dim or len(items[0].record.vector))
    rows = []
    for item in items:
        v: CallVector = item.record
        rows.append((v.call_id, v.task, v.model_version, vector_text(v.vector), when(v.produced_at), v.user_id,
                     clean(v.snippet), v.template_version, when(v.started_at if v.started_at is not None else v.produced_at),
                     item.partition, item.offset))
    return len(_returned(cur, INSERT_VECTOR, rows))
