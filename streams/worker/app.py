"""The worker, built in one place at start: the faust App, its topics, tables and agents, from one Settings."""
from __future__ import annotations

import sys

import faust
from threadpoolctl import threadpool_limits

from streams.core.kafka import KafkaConnection
from streams.core.settings import Settings
from streams.worker import watchdog
from streams.worker.agents import assemble, attribute, counts, upsert
from streams.worker.channels import Channels
from streams.worker.context import Worker
from streams.worker.deadletter import DeadLetters
from streams.worker.steps.rules import RuleBooks
from streams.worker.tables import Tables
from streams.worker.watchdog import Progress


def faust_credentials(settings: Settings):
    """The Kafka connection (streams.core.kafka) as faust's credentials: None for PLAINTEXT."""
    connection = KafkaConnection.from_settings(settings)
    context = connection.ssl_context()
    if connection.sasl:
        return faust.SASLCredentials(username=connection.sasl_username, password=connection.sasl_password,
                                     ssl_context=context, mechanism=connection.sasl_mechanism)
    return faust.SSLCredentials(context) if context is not None else None


def faust_app(settings: Settings) -> faust.App:
    return faust.App(
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


def build_worker(settings: Settings, make_encoder: attribute.EncoderFactory = attribute.triton_encoder) -> Worker:
    """The App with every agent registered (attribution only where inference is on). `make_encoder` is Triton's
    client; the benchmark's in-process baseline passes its own (streams.tools.bench.inprocess)."""
    # One BLAS thread: the worker's matrix products are small (a call against its candidates), and OpenBLAS's second
    # thread spins a whole core after each one from 50 labels up (callqa bench's cost curve: 143 -> 490 ms CPU a call
    # from 10 to 100 labels), taking it from Triton on a shared machine.
    threadpool_limits(limits=1)
    app = faust_app(settings)
    channels = Channels(app, settings)
    tables = Tables(app, settings)
    worker = Worker(settings=settings, template=settings.template(), app=app, channels=channels,
                    tables=tables, progress=Progress(),
                    dead_letters=DeadLetters(settings, channels.dead_letter, channels.repartition),
                    rules=RuleBooks(tables.rules.values, settings.rules_refresh_s))
    upsert.register(worker)
    assemble.register(worker)
    counts.register(worker)
    watchdog.register(worker)
    if settings.inference_enabled:
        attribute.register(worker, make_encoder)
    return worker


def run(worker: Worker) -> None:
    """Run the worker until it is stopped (faust's own command line, which handles signals and shutdown)."""
    sys.argv = ["callqa-worker", "worker", "--loglevel", "info"] + ([] if worker.settings.web_enabled else ["--without-web"])
    worker.app.main()
