"""Account info, the label catalog and human labels into their tables (the right sides of the joins). Each record's
Kafka key must be its id (else a dead letter `key_mismatch`); a tombstone (null value) deletes its key from the
table, and so from the table's changelog: data deleted upstream is deleted here."""
from __future__ import annotations

import logging

from streams.app import app
from streams.channels import account_topic, human_label_topic, label_topic
from streams.deadletter import each_record
from streams.tables import accounts, human_labels, labels
from streams.topics import REPARTITIONED

log = logging.getLogger(__name__)


def _upsert_agent(topic, table, event: str, key_field: str):
    async def store(_, record: dict) -> None:
        table[record[key_field]] = record

    async def delete(event_, key: str) -> None:
        message = event_.message
        if table.pop(key, None) is not None:
            log.info("%s[%s]@%s: tombstone, %s deleted", message.topic, message.partition, message.offset, event)

    async def upsert(stream):
        await each_record(stream, event, store, key_field=key_field, on_tombstone=delete,
                          repartition=event if event in REPARTITIONED else None)

    upsert.__name__ = f"upsert_{event}"
    return app.agent(topic, name=f"callqa.upsert_{event}")(upsert)


upsert_account = _upsert_agent(account_topic, accounts, "account", "user_id")
upsert_label = _upsert_agent(label_topic, labels, "label", "label_id")
upsert_human_label = _upsert_agent(human_label_topic, human_labels, "human_label", "call_id")
