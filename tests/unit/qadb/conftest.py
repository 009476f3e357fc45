"""The QA database's unit tests run on a real PostgreSQL (the session's, tests/conftest.py), each in a database of
its own with the migrations applied; records are the schemas' examples with their ids changed."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from streams.core.codec import decode, encode
from streams.qadb.migrate import migrate
from streams.qadb.store import Item, connect

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
