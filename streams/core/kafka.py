"""The one Kafka client configuration (CALLQA_KAFKA_*), translated once per client library: librdkafka
(confluent-kafka: tools, retrain, the dashboard's health), aiokafka (the dashboard's stream) and, in
streams.worker.app, faust. TLS, SASL and the password file mean the same to all three."""
from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass, field

from streams.core.settings import Settings


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    security_protocol: str  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    sasl_mechanism: str  # PLAIN where the protocol is SASL_* and none is set; "" without SASL
    sasl_username: str
    sasl_password: str = field(repr=False)  # read from the password file at start, where one is set; never logged

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConnection:
        sasl = settings.kafka_security_protocol.startswith("SASL_")
        return cls(settings.kafka_bootstrap_servers, settings.kafka_security_protocol, settings.kafka_ssl_cafile,
                   settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or settings.kafka_ssl_certfile,
                   (settings.kafka_sasl_mechanism or "PLAIN") if sasl else "", settings.kafka_sasl_username or "",
                   settings.sasl_password() if sasl else "")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        """For the Python clients (aiokafka, faust): the CA and client certificate as configured; None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def librdkafka(self) -> dict:
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.ca_file:
            config["ssl.ca.location"] = self.ca_file
        if self.cert_file:
            config["ssl.certificate.location"] = self.cert_file
            config["ssl.key.location"] = self.key_file
        if self.sasl:
            config.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                           "sasl.password": self.sasl_password})
        return config

    def aiokafka(self) -> dict:
        config = {"bootstrap_servers": self.bootstrap_servers, "security_protocol": self.security_protocol}
        if self.tls:
            config["ssl_context"] = self.ssl_context()
        if self.sasl:
            config.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password)
        return config


def kafka_config(settings: Settings) -> dict:
    """librdkafka (confluent-kafka) connection settings."""
    return KafkaConnection.from_settings(settings).librdkafka()


def aiokafka_config(settings: Settings) -> dict:
    """aiokafka connection settings (the dashboard's consumer and producer)."""
    return KafkaConnection.from_settings(settings).aiokafka()


def consumer_from_start(settings: Settings, topic: str, purpose: str, **config):
    """A confluent consumer on every partition of `topic` from offset 0, in a group of its own that never commits:
    for reading a topic whole (checks, the benchmark, tests)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**kafka_config(settings), "group.id": f"{purpose}-{uuid.uuid4().hex}", "enable.auto.commit": False,
                         **config})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    return consumer


def read_to_end(settings: Settings, event: str, purpose: str, timeout_s: float,
                record=lambda m: (m.partition(), m.offset(), m.value()), **config) -> list:
    """Every record of the event's topic up to its end offsets at the start of the read, each as `record(message)`
    ((partition, offset, value) unless told otherwise); TimeoutError when a partition is not read to its end in time."""
    import time

    topic = settings.topic(event)
    consumer = consumer_from_start(settings, topic, purpose, **config)
    try:
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in consumer.assignment()}
        records, left = [], {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.5):
                if message.error() is not None:
                    continue
                p = message.partition()
                if message.offset() < ends[p]:
                    records.append(record(message))
                if message.offset() >= ends[p] - 1:
                    left.discard(p)
        if left:
            raise TimeoutError(f"{topic}: partitions {sorted(left)} not read to their end in {timeout_s:.0f}s")
        return records
    finally:
        consumer.close()
