"""Every topic callqa reads or writes, with the partitioning and cleanup it is created with."""
from __future__ import annotations

from dataclasses import dataclass

from streams.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    event: str
    key: str
    compact: bool = False
    single_partition: bool = False


# Keyed state (accounts, catalog) is compacted: the latest record per key is the state.
TOPICS = (
    TopicSpec("transcript", key="call_id"),
    TopicSpec("account", key="user_id", compact=True),
    TopicSpec("label", key="label_id", compact=True, single_partition=True),
    TopicSpec("human_label", key="call_id"),
    TopicSpec("call_ready", key="user_id"),  # repartitioned by user_id to meet the account table
    TopicSpec("attribution", key="call_id"),
    TopicSpec("alert", key="call_id"),
    TopicSpec("pseudo_label", key="call_id"),
    TopicSpec("dead_letter", key="source key"),
)


def create_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    new = [
        NewTopic(
            settings.topic(spec.event),
            num_partitions=1 if spec.single_partition else settings.partitions,
            replication_factor=1,
            config={"cleanup.policy": "compact"} if spec.compact else {},
        )
        for spec in TOPICS
        if settings.topic(spec.event) not in existing
    ]
    if new:
        for future in admin.create_topics(new, operation_timeout=timeout_s).values():
            future.result()
    return [t.topic for t in new]


def kafka_config(settings: Settings) -> dict:
    """librdkafka (confluent-kafka) connection settings."""
    config = {"bootstrap.servers": settings.kafka_bootstrap_servers, "security.protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username or ""
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    return config
