"""Account info, the label catalog, the QA rules and human labels into their tables. Each record's
Kafka key must be its id (else a dead letter `key_mismatch`); a tombstone (null value) deletes its key from the
table, and so from the table's changelog: data deleted upstream is deleted here."""
from __future__ import annotations

import logging

from streams.core.records import Record
from streams.core.topics import REPARTITIONED
from streams.worker.context import Worker
from streams.core.rules import check_rule

log = logging.getLogger(__name__)


def register(worker: Worker) -> None:
    tables, channels = worker.tables, worker.channels
    for topic, table, event, key_field, check in (
            (channels.account, tables.accounts, "account", "user_id", None),
            (channels.label, tables.labels, "label", "label_id", None),
            (channels.rule, tables.rules, "rule", "rule_id", check_rule),
            (channels.human_label, tables.human_labels, "human_label", "call_id", None)):
        _upsert_agent(worker, topic, table, event, key_field, check)


def _upsert_agent(worker: Worker, topic, table, event: str, key_field: str, check=None) -> None:
    """`check(record)` raises DecodeError for a record the schema accepts but that cannot be used (a dead letter)."""
    async def store(_, record: Record) -> None:
        if check is not None:
            check(record)
        table[getattr(record, key_field)] = record.to_dict()

    async def delete(event_, key: str) -> None:
        message = event_.message
        if table.pop(key, None) is not None:
            log.info("%s[%s]@%s: tombstone, %s deleted", message.topic, message.partition, message.offset, event)

    async def upsert(stream):
        await worker.dead_letters.each_record(stream, event, store, key_field=key_field, on_tombstone=delete,
                                              repartition=event if event in REPARTITIONED else None)

    upsert.__name__ = f"upsert_{event}"
    worker.app.agent(topic, name=f"callqa.upsert_{event}")(upsert)
