"""Account info, the label catalog and human labels into their tables (the right sides of the joins)."""
from __future__ import annotations

from streams.app import app
from streams.channels import account_topic, human_label_topic, label_topic
from streams.deadletter import decoded
from streams.tables import accounts, human_labels, labels


def _upsert_agent(topic, table, event: str, key_field: str):
    async def upsert(stream):
        async for _, record in decoded(stream, event):
            table[record[key_field]] = record

    upsert.__name__ = f"upsert_{event}"
    return app.agent(topic, name=f"callqa.upsert_{event}")(upsert)


upsert_account = _upsert_agent(account_topic, accounts, "account", "user_id")
upsert_label = _upsert_agent(label_topic, labels, "label", "label_id")
upsert_human_label = _upsert_agent(human_label_topic, human_labels, "human_label", "call_id")
