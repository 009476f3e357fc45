"""Questions of the past, answered from the stored call vectors without running the model on a call again:
a label added (or re-worded) today scored against the calls of the last days (back-fill), the calls nearest a
sentence (search by meaning), and the model's agreement with the human spot checks. The caller brings the vectors
(the label's or the sentence's, from the served model); this module is SQL on pgvector."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from streams.qadb.store import vector_text

# A past call the label would have won: the label's cosine reaches the best score of the call's final attribution
# among the other labels (the call's own top-k, as the worker matched it; a tie counts, to 1e-5: scores and stored
# vectors are rounded to 6 decimals, and a label worded as an existing one finds that label's calls), and
# `min_score`.
BACKFILL = """
INSERT INTO backfilled_attributions (label_id, model_version, call_id, task, score, previous_label_id, previous_score,
                                     call_time)
SELECT %(label_id)s, v.model_version, v.call_id, v.task, s.score, f.label_id, f.best_other, v.call_time
FROM call_vectors v
CROSS JOIN LATERAL (SELECT 1 - (v.vector <=> %(vector)s::vector) AS score) s
LEFT JOIN LATERAL (
    SELECT a.label_id, (SELECT max((e->>'score')::float8) FROM jsonb_array_elements(a.top_k) e
                        WHERE e->>'label_id' <> %(label_id)s) AS best_other
    FROM attributions a
    WHERE a.final AND a.call_id = v.call_id AND a.task = v.task AND a.model_version = v.model_version
    ORDER BY a.produced_at DESC LIMIT 1) f ON true
WHERE v.model_version = %(model_version)s AND v.task = %(task)s AND v.call_time >= %(since)s
  AND s.score >= %(min_score)s AND s.score >= coalesce(f.best_other, -1) - 1e-5
"""
SCORED = "SELECT count(*) FROM call_vectors WHERE model_version = %s AND task = %s AND call_time >= %s"
# HNSW returns ef_search candidates before the WHERE filters them: wide enough that `limit` survive the filter.
SEARCH = """
SELECT v.call_id, v.task, 1 - (v.vector <=> %(vector)s::vector) AS score, v.snippet, v.call_time, f.label_id, f.label_name
FROM call_vectors v
LEFT JOIN LATERAL (SELECT a.label_id, a.label_name FROM attributions a
                   WHERE a.final AND a.call_id = v.call_id AND a.task = v.task AND a.model_version = v.model_version
                   ORDER BY a.produced_at DESC LIMIT 1) f ON true
WHERE v.model_version = %(model_version)s AND (%(task)s::text IS NULL OR v.task = %(task)s)
ORDER BY v.vector <=> %(vector)s::vector
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Backfill:
    label_id: str
    model_version: str
    task: str
    label_text: str
    since: datetime
    calls_scored: int
    calls_matched: int
    seconds: float
    finished_at: datetime | None = None

    def to_dict(self) -> dict:
        return {"label_id": self.label_id, "model_version": self.model_version, "task": self.task,
                "label_text": self.label_text, "since": _ms(self.since), "calls_scored": self.calls_scored,
                "calls_matched": self.calls_matched, "seconds": round(self.seconds, 3),
                "finished_at": _ms(self.finished_at)}


BACKFILL_COLUMNS = ("label_id, model_version, task, label_text, since, calls_scored, calls_matched, seconds, "
                    "finished_at")  # Backfill's fields, in order


def _ms(t: datetime | None) -> int | None:
    return None if t is None else round(t.timestamp() * 1000)


def done(conn, label_id: str, model_version: str) -> Backfill | None:
    """The label's back-fill under `model_version`, if one ran."""
    row = conn.execute(f"SELECT {BACKFILL_COLUMNS} FROM label_backfills WHERE label_id = %s AND model_version = %s",
                       (label_id, model_version)).fetchone()
    return None if row is None else Backfill(*row)


def latest(conn, label_id: str) -> Backfill | None:
    """The label's newest back-fill, of whichever model version."""
    row = conn.execute(f"SELECT {BACKFILL_COLUMNS} FROM label_backfills WHERE label_id = %s "
                       "ORDER BY finished_at DESC LIMIT 1", (label_id,)).fetchone()
    return None if row is None else Backfill(*row)


def backfill(conn, label_id: str, task: str, label_text: str, vector, model_version: str, days: float,
             min_score: float = 0.0, now: datetime | None = None) -> Backfill | None:
    """Score the calls of the last `days` (of `task`, whose vectors `model_version` made) against the label's vector
    and keep those it would have won; a back-fill of this label and version that ran before is replaced (its text
    changed). One transaction; None when another process is back-filling this label right now."""
    started = time.perf_counter()
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    with conn.transaction():
        # Two dashboards seeing the same new label: one of them scores it.
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (label_id,)).fetchone()[0]:
            return None
        conn.execute("DELETE FROM label_backfills WHERE label_id = %s AND model_version = %s", (label_id, model_version))
        conn.execute("INSERT INTO label_backfills (label_id, model_version, task, label_text, since, calls_scored, "
                     "calls_matched, seconds) VALUES (%s, %s, %s, %s, %s, 0, 0, 0)",
                     (label_id, model_version, task, label_text, since))
        matched = conn.execute(BACKFILL, {"label_id": label_id, "vector": vector_text(vector), "task": task,
                                          "model_version": model_version, "since": since,
                                          "min_score": min_score}).rowcount
        scored = conn.execute(SCORED, (model_version, task, since)).fetchone()[0]
        seconds = time.perf_counter() - started
        finished = conn.execute("UPDATE label_backfills SET calls_scored = %s, calls_matched = %s, seconds = %s, "
                                "finished_at = now() WHERE label_id = %s AND model_version = %s RETURNING finished_at",
                                (scored, matched, seconds, label_id, model_version)).fetchone()[0]
    return Backfill(label_id, model_version, task, label_text, since, scored, matched, seconds, finished)


def backfilled_calls(conn, label_id: str, model_version: str, limit: int = 200) -> list[dict]:
    """The calls a back-fill found, best score first, with what the search shows of them."""
    rows = conn.execute(
        "SELECT b.call_id, b.task, b.score, b.previous_label_id, b.previous_score, b.call_time, v.snippet "
        "FROM backfilled_attributions b LEFT JOIN call_vectors v "
        "ON v.call_id = b.call_id AND v.task = b.task AND v.model_version = b.model_version "
        "WHERE b.label_id = %s AND b.model_version = %s ORDER BY b.score DESC, b.call_id LIMIT %s",
        (label_id, model_version, limit)).fetchall()
    return [{"call_id": c, "task": t, "score": round(s, 6), "previous_label_id": p,
             "previous_score": None if ps is None else round(ps, 6), "call_time": _ms(ct), "snippet": snip or ""}
            for c, t, s, p, ps, ct, snip in rows]


def search(conn, vector, model_version: str, task: str | None = None, limit: int = 20) -> list[dict]:
    """The stored calls nearest `vector` (HNSW, cosine), one row per call (its best task when `task` is None)."""
    with conn.transaction():
        conn.execute(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, 4 * int(limit)))}")
        rows = conn.execute(SEARCH, {"vector": vector_text(vector), "model_version": model_version, "task": task,
                                     "limit": 2 * limit if task is None else limit}).fetchall()
    found: dict[str, dict] = {}
    for call_id, t, score, snippet, call_time, label_id, label_name in rows:
        if call_id not in found:  # rows come nearest first
            found[call_id] = {"call_id": call_id, "task": t, "score": round(score, 6), "snippet": snippet,
                              "call_time": _ms(call_time), "label_id": label_id, "label_name": label_name}
    return list(found.values())[:limit]


def newest_model_version(conn) -> str | None:
    """The model version of the newest stored call vector (what a search should use when Triton serves another)."""
    row = conn.execute("SELECT model_version FROM call_vectors ORDER BY produced_at DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


WINDOWS_DAYS = (1, 7, 30)


def agreement(conn, now: datetime | None = None) -> list[dict]:
    """Per window (1/7/30 days of human checks): per task and per label (the human's label), checked and agreed."""
    now = now or datetime.now(timezone.utc)
    out = []
    for days in WINDOWS_DAYS:
        since = now - timedelta(days=days)
        tasks = conn.execute("SELECT task, count(*), count(*) FILTER (WHERE agrees) FROM human_agreement "
                             "WHERE event_time >= %s GROUP BY task ORDER BY task", (since,)).fetchall()
        labels = conn.execute("SELECT task, human_label_id, count(*), count(*) FILTER (WHERE agrees) FROM human_agreement "
                              "WHERE event_time >= %s GROUP BY task, human_label_id ORDER BY task, human_label_id",
                              (since,)).fetchall()
        out.append({"days": days,
                    "tasks": [{"task": t, "checked": n, "agreed": k, "agreement": _share(k, n)} for t, n, k in tasks],
                    "labels": [{"task": t, "label_id": l, "checked": n, "agreed": k, "agreement": _share(k, n)}
                               for t, l, n, k in labels]})
    return out


def _share(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


# Per task and model version: agreement over the human checks of the last `days`, each version judged on the calls
# it gave a final attribution; versions in the order they first attributed.
BY_VERSION = """
SELECT t.task, a.model_version, min(a.produced_at) AS first_seen, count(*), count(*) FILTER (WHERE t.label_id = a.label_id)
FROM human_labels h
CROSS JOIN LATERAL jsonb_each_text(h.labels) AS t (task, label_id)
JOIN attributions a ON a.final AND a.call_id = h.call_id AND a.task = t.task
WHERE h.event_time >= %s
GROUP BY t.task, a.model_version
ORDER BY t.task, first_seen
"""


def baseline(conn, days: int = 30, now: datetime | None = None) -> dict[str, dict]:
    """Per task: the newest model version's agreement and the one before it (the last model's), over `days`."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    versions: dict[str, list] = {}
    for task, version, _, n, k in conn.execute(BY_VERSION, (since,)).fetchall():
        versions.setdefault(task, []).append((version, n, k))
    out = {}
    for task, found in versions.items():
        (version, n, k), before = found[-1], found[-2] if len(found) > 1 else None
        out[task] = {"model_version": version, "agreement": _share(k, n),
                     "previous_model_version": before[0] if before else None,
                     "previous_agreement": _share(before[2], before[1]) if before else None}
    return out
