"""`callqa check`'s database half: the de-duplicated outputs on the topics against the rows of the QA database,
table by table (the counts and the sets of keys), and the human labels against the latest of each call on the
topic. A sink still behind its topics is said first: rows it has not reached yet are missing for that reason."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from streams.core.errors import DecodeError
from streams.core.kafka import read_to_end
from streams.core.records import HumanLabel
from streams.core.settings import Settings
from streams.qadb import store
from streams.qadb.sink import lag, take

EXAMPLES = 3  # keys named per gap
# A table's idempotency key as SQL (call_vectors are keyed by their columns, as the topic's key is made).
KEY_SQL = {"call_vectors": "call_id || ':' || task || ':' || model_version"}


def expected_human_labels(records: Iterable[tuple[int, int, bytes | None, bytes | None]]) -> dict[str, HumanLabel]:
    """The table the sink keeps from (partition, offset, key, value) records: per call the latest valid record on
    the topic, none after a tombstone."""
    latest: dict[str, HumanLabel] = {}
    for p, o, key, value in sorted(records, key=lambda r: (r[0], r[1])):
        try:
            item = take("human_label", p, o, key, value)
        except DecodeError:
            continue
        if item.record is None:
            latest.pop(item.key, None)
        else:
            latest[item.record.call_id] = item.record
    return latest


def read_keyed(settings: Settings, event: str, timeout_s: float) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Every record of the event's topic up to its end offsets now, with its key."""
    return read_to_end(settings, event, "callqa-check-db", timeout_s,
                       record=lambda m: (m.partition(), m.offset(), m.key(), m.value()))


def key_gaps(table: str, expected: set[str], stored: set[str]) -> list[str]:
    gaps = []
    if missing := expected - stored:
        gaps.append(f"QA database: {len(missing)} of {len(expected)} {table} on the topics are not in the table, "
                    f"e.g. {sorted(missing)[:EXAMPLES]}")
    if extra := stored - expected:
        gaps.append(f"QA database: {len(extra)} {table} rows are not on the topics, e.g. {sorted(extra)[:EXAMPLES]}")
    return gaps


def compare_with_database(settings: Settings, outputs: dict[str, dict[str, dict]],
                          timeout_s: float = 60.0) -> tuple[Counter, list[str]]:
    """`outputs`: table -> {idempotency key: the first record of it on the topic}, as reconcile de-duplicates them.
    Returns the database's counts (db.<table>) and the gaps."""
    import psycopg

    counts, gaps = Counter(), []
    behind = {event: n for event, n in lag(settings, timeout_s).items() if n}
    for event, n in sorted(behind.items()):
        gaps.append(f"QA database: the sink (group {settings.sink_group}) is {n} records behind on "
                    f"{settings.topic(event)}")
    human = expected_human_labels(read_keyed(settings, "human_label", timeout_s))
    try:
        conn = store.connect(settings)
    except psycopg.OperationalError as exc:
        return counts, gaps + [f"QA database: cannot connect ({str(exc).strip()[:200]})"]
    with conn:
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
            return counts, gaps + ["QA database: no tables (the sink has never run against it)"]
        for table, expected in outputs.items():
            stored = {row[0] for row in conn.execute(f"SELECT {KEY_SQL.get(table, 'idempotency_key')} FROM {table}")}
            counts[f"db.{table}"] = len(stored)
            gaps += key_gaps(table, set(expected), stored)
        if "scorecards" in outputs:
            rules = sum(len(s["rules"]) for s in outputs["scorecards"].values())
            counts["db.scorecard_rules"] = conn.execute("SELECT count(*) FROM scorecard_rules").fetchone()[0]
            if counts["db.scorecard_rules"] != rules:
                gaps.append(f"QA database: {counts['db.scorecard_rules']} scorecard_rules rows, the scorecards on "
                            f"the topic hold {rules} rule results")
        rows = {call_id: (round(t.timestamp() * 1000), labels, summary, annotator)
                for call_id, t, labels, summary, annotator
                in conn.execute("SELECT call_id, event_time, labels, summary, annotator FROM human_labels")}
    counts["db.human_labels"] = len(rows)
    gaps += key_gaps("human_labels", set(human), set(rows))
    differ = sorted(c for c in set(human) & set(rows)
                    if rows[c] != (human[c].event_time, human[c].labels, human[c].summary, human[c].annotator))
    if differ:
        gaps.append(f"QA database: {len(differ)} human labels are not the latest of their call on the topic, "
                    f"e.g. {differ[:EXAMPLES]}")
    return counts, gaps
