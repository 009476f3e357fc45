"""Every topic callqa reads or writes, with the partitioning and cleanup it is created with."""
from __future__ import annotations

from dataclasses import dataclass

from streams.core.kafka import kafka_config
from streams.core.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    event: str
    key: str
    compact: bool = False
    single_partition: bool = False
    compact_retention_days: int | None = None  # compacted and also deleted after this long (compact,delete)

    def config(self) -> dict[str, str]:
        """The topic config this code creates it with (the cluster's KafkaTopics keep their own retention)."""
        if not self.compact:
            return {}
        if self.compact_retention_days is None:
            return {"cleanup.policy": "compact"}
        return {"cleanup.policy": "compact,delete", "retention.ms": str(self.compact_retention_days * 86400 * 1000)}


# Keyed state (accounts, catalog) is compacted: the latest record per key is the state.
TOPICS = (
    TopicSpec("transcript", key="call_id"),
    TopicSpec("account", key="user_id", compact=True),
    TopicSpec("label", key="label_id", compact=True, single_partition=True),
    TopicSpec("rule", key="rule_id", compact=True, single_partition=True),  # the QA rules, like the catalog
    TopicSpec("human_label", key="call_id"),
    TopicSpec("call_ready", key="user_id"),  # repartitioned by user_id to meet the account table
    TopicSpec("attribution", key="call_id"),
    TopicSpec("alert", key="call_id"),
    TopicSpec("scorecard", key="call_id"),
    # A final call's vector per task and model version: compacted (redeliveries collapse), then deleted after the
    # back-fill window (the QA database keeps the vectors; the topic only carries them there).
    TopicSpec("call_vector", key="idempotency_key", compact=True, compact_retention_days=35),
    TopicSpec("pseudo_label", key="call_id"),
    TopicSpec("dead_letter", key="source key"),
    TopicSpec("attribution_by_label", key="label_id"),  # final attributions repartitioned by label for the counts
    TopicSpec("label_count", key="label_id"),
    TopicSpec("alert_ack", key="alert_id"),  # written by the dashboard: who acknowledged which alert, when
    TopicSpec("health", key="worker"),
)


# The worker's table changelogs, as faust names them ({app_id}-{table}-changelog) and partitions them. Created with
# the topics above, so a first worker never assigns partitions before a changelog it just created is in the
# metadata (seen once: its GlobalTable then waited for that partition forever).
CHANGELOGS = (("accounts", False), ("human_labels", False), ("calls", False), ("labels", True), ("rules", True),
              ("label_minutes", False))  # (table, single partition)
# Inputs whose state is joined by key (accounts with call_ready by user id; calls with human labels by call id) may
# come from producers whose partitioner is not murmur2 (librdkafka's default is consistent_random): a record not on
# the partition murmur2 gives its key is forwarded through the worker's own repartition topic ({app_id}-{event}-
# repartition, same partition count), so every key's state sits where the join looks for it.
REPARTITIONED = ("transcript", "account", "human_label")


def repartition_topic(settings: Settings, event: str) -> str:
    return f"{settings.app_id}-{event}-repartition"


# A windowed table's changelog also deletes: every (label, minute) is its own key, kept as long as the window.
WINDOWED_CHANGELOGS = {"label_minutes": 2 * 3600 * 1000}  # retention.ms


def create_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    compact = {"cleanup.policy": "compact"}
    wanted = [(settings.topic(spec.event), spec.single_partition, spec.config()) for spec in TOPICS]
    for table, single in CHANGELOGS:
        config = compact
        if table in WINDOWED_CHANGELOGS:
            config = {"cleanup.policy": "compact,delete", "retention.ms": str(WINDOWED_CHANGELOGS[table])}
        wanted.append((f"{settings.app_id}-{table}-changelog", single, config))
    wanted += [(repartition_topic(settings, event), False, {}) for event in REPARTITIONED]
    new = [
        NewTopic(name, num_partitions=1 if single else settings.partitions, replication_factor=settings.replication_factor, config=config)
        for name, single, config in wanted
        if name not in existing
    ]
    if new:
        for future in admin.create_topics(new, operation_timeout=timeout_s).values():
            future.result()
    return [t.topic for t in new]
