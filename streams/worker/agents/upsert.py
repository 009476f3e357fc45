"""Account info, the label catalog and human labels into their tables (the right sides of the joins). Each record's
Kafka key must be its id (else a dead letter `key_mismatch`); a tombstone (null value) deletes its key from the
table, and so from the table's changelog: data deleted upstream is deleted here."""
from __future__ import annotations

import logging

from streams.core.records import Record
from streams.core.topics import REPARTITIONED
from streams.worker.context import Worker

log = logging.getLogger(__name__)


def register(worker: Worker) -> None:
    tables, channels = worker.tables, worker.channels
    for topic, table, event, key_field in ((channels.account, tables.accounts, "account", "user_id"),
                                           (channels.label, tables.labels, "label", "label_id"),
                                           (channels.human_label, tables.human_labels, "human_label", "call_id")):
        _upsert_agent(worker, topic, table, event, key_field)


def _upsert_agent(worker: Worker, topic, table, event: str, key_field: str) -> None:
    async def store(_, record: Record) -> None:
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
