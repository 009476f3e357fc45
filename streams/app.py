"""The Faust application (agents register themselves on import of streams.agents)."""
from __future__ import annotations

import faust

from streams.settings import get_settings
from streams.topics import faust_credentials

settings = get_settings()

app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap_servers}",
    broker_credentials=faust_credentials(settings),  # TLS / SASL as configured, like every other client
    store="memory://",
    datadir=settings.data_dir,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    topic_allow_declare=True,  # faust creates its own changelog topics; ours are created by `callqa topics`
    web_enabled=settings.web_enabled,
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_bind=settings.web_host,
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=settings.heartbeat_interval_s,
    producer_acks=-1,
    producer_linger=settings.producer_linger_s,
    consumer_auto_offset_reset="earliest",
    autodiscover=False,
)
