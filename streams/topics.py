"""Every topic callqa reads or writes, with the partitioning and cleanup it is created with."""
from __future__ import annotations

import uuid
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
    TopicSpec("attribution_by_label", key="label_id"),  # final attributions repartitioned by label for the counts
    TopicSpec("label_count", key="label_id"),
    TopicSpec("alert_ack", key="alert_id"),  # written by the dashboard: who acknowledged which alert, when
    TopicSpec("health", key="worker"),
)


# The worker's table changelogs, as faust names them ({app_id}-{table}-changelog) and partitions them. Created with
# the topics above, so a first worker never assigns partitions before a changelog it just created is in the
# metadata (seen once: its GlobalTable then waited for that partition forever).
CHANGELOGS = (("accounts", False), ("human_labels", False), ("calls", False), ("labels", True),
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
    wanted = [(settings.topic(spec.event), spec.single_partition, compact if spec.compact else {}) for spec in TOPICS]
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


def kafka_config(settings: Settings) -> dict:
    """librdkafka (confluent-kafka) connection settings: TLS and SASL as configured."""
    config = {"bootstrap.servers": settings.kafka_bootstrap_servers, "security.protocol": settings.kafka_security_protocol}
    if settings.kafka_ssl_cafile:
        config["ssl.ca.location"] = settings.kafka_ssl_cafile
    if settings.kafka_ssl_certfile:
        config["ssl.certificate.location"] = settings.kafka_ssl_certfile
        config["ssl.key.location"] = settings.kafka_ssl_keyfile or settings.kafka_ssl_certfile
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username or ""
        config["sasl.password"] = settings.sasl_password()
    return config


def faust_credentials(settings: Settings):
    """The same connection settings for the faust worker (aiokafka): None for PLAINTEXT."""
    import ssl

    from faust import SASLCredentials, SSLCredentials

    context = None
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    if settings.kafka_security_protocol.startswith("SASL_"):
        return SASLCredentials(username=settings.kafka_sasl_username or "", password=settings.sasl_password(),
                               ssl_context=context, mechanism=settings.kafka_sasl_mechanism or "PLAIN")
    return SSLCredentials(context) if context is not None else None


def consumer_from_start(settings: Settings, topic: str, purpose: str, **config):
    """A confluent consumer on every partition of `topic` from offset 0, in a group of its own that never commits:
    for reading a topic whole (checks, the benchmark, tests)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**kafka_config(settings), "group.id": f"{purpose}-{uuid.uuid4().hex}", "enable.auto.commit": False,
                         **config})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    return consumer
