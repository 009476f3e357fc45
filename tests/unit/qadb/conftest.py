"""The QA database's unit tests run on a real PostgreSQL (the session's, tests/conftest.py), each in a database of
its own with the migrations applied; records are the schemas' examples with their ids changed."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from streams.core.codec import decode, encode
from streams.qadb.migrate import migrate
from streams.qadb.store import Item, connect, write

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


def example(event: str, **changes) -> dict:
    record = copy.deepcopy(json.loads((EXAMPLES / f"{event}.v1.json").read_text("utf-8")))
    record.update(changes)
    return record


def attribution(call_id: str, task: str = "product", final: bool = True, produced_at: int = 1767225731067,
                **changes) -> dict:
    kind = "final" if final else "provisional@8"
    return example("attribution", idempotency_key=f"{call_id}:{task}:{kind}:3", call_id=call_id, task=task,
                   final=final, produced_at=produced_at, **changes)


def item(event: str, record: dict | None, partition: int = 0, offset: int = 0, key: str | None = None) -> Item:
    """An Item as the sink makes it (the record through the codec, so it is valid per its schema)."""
    return Item(event, partition, offset, None if record is None else decode(encode(record), event), key)


@pytest.fixture
def conn(database_url):
    with connect(database_url) as conn:
        migrate(conn)
        yield conn


# --- past calls: stored vectors, final attributions and human checks (test_qadb_queries, test_past_endpoints) ----

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
DAY_MS = 86400 * 1000
NOW_MS = round(NOW.timestamp() * 1000)


def unit(*values: float) -> list[float]:
    v = np.asarray(values, dtype=np.float64)
    return [float(x) for x in v / np.linalg.norm(v)]


def final_attribution(call_id: str, task: str, label_id: str, at: int, model_version: str, **changes) -> dict:
    return example("attribution", idempotency_key=f"{call_id}:{task}:final:{model_version}", call_id=call_id, task=task,
                   final=True, produced_at=at, label_id=label_id, label_name=label_id, model_version=model_version,
                   **changes)


def stored_call(conn, call_id: str, vector: list[float], label_id: str, score: float, days_ago: float = 1.0,
                task: str = "complaint", model_version: str = "3", human: str | None = None, offset: int = 0):
    at = NOW_MS - round(days_ago * DAY_MS)
    final = final_attribution(call_id, task, label_id, at, model_version, score=score,
                              top_k=[{"label_id": label_id, "name": label_id, "score": score}])
    items = [item("attribution", final),
             item("call_vector", example("call_vector", idempotency_key=f"{call_id}:{task}:{model_version}",
                                         call_id=call_id, task=task, vector=vector, started_at=at, produced_at=at,
                                         snippet=f"{call_id} 的转写", model_version=model_version))]
    if human is not None:
        items.append(item("human_label", example("human_label", call_id=call_id, labels={task: human},
                                                 event_time=at), offset=offset))
    write(conn, items)
