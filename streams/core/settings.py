"""The one serving configuration: environment variables with the CALLQA_ prefix (or a .env file)."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.core.records import SCHEMA_VERSION
from streams.core.render import DEFAULT_TEMPLATE, Template


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLQA_", env_file=".env", frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_cafile: str | None = None  # PEM file of the CA that signed the brokers' certificates
    kafka_ssl_certfile: str | None = None  # client certificate and key (PEM), where the brokers ask for one
    kafka_ssl_keyfile: str | None = None
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: str | None = None  # read at start, e.g. a mounted Kubernetes secret
    topic_prefix: str = "callqa"
    partitions: int = 4
    replication_factor: int = 1  # of the topics callqa and faust create (the worker's changelogs among them)
    app_id: str = "callqa-worker"
    # Triton
    triton_url: str = "127.0.0.1:18001"
    triton_model: str = "callqa_embed"
    triton_timeout_s: float = 10.0
    triton_max_batch: int = 64
    triton_parallel_requests: int = 2  # a batch goes out as this many requests at once: one per Triton instance
    # The model of the benchmark's naive baseline, run inside the worker (streams.tools.bench.inprocess)
    in_process_model_dir: str = ".callqa/models/default"
    triton_ssl: bool = False
    triton_root_certificates: str | None = None  # PEM file of the CA that signed Triton's certificate
    # Worker
    worker_name: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")  # in health events
    web_host: str = "127.0.0.1"
    web_port: int = 16066
    web_enabled: bool = False
    data_dir: str = ".callqa/worker"
    batch_size: int = 32
    batch_window_s: float = 0.05
    # Micro-batches whose inference may run at once: Triton works on one while the worker publishes the last (acks
    # stay in input order; 1 waits for each batch before taking the next).
    batches_in_flight: int = Field(default=2, ge=1)
    provisional_every: int = 8  # segments between provisional attributions; 0 turns them off
    top_k: int = 3
    summary_sentences: int = 3
    complaint_alert_threshold: float = 0.3
    review_margin_threshold: float = 0.02
    alert_on_provisional: bool = False
    # A call's state (and its snapshots) is one Kafka record: segments past these bounds are dead letters
    # `call_too_large` (100,000 characters is about 7 hours of speech; the state stays well under 1 MB).
    max_call_segments: int = 2000
    max_call_chars: int = 100_000
    dead_letter_max_bytes: int = 256 * 1024  # larger inputs keep their head in the dead letter (see codec.dead_letter)
    template_version: str = DEFAULT_TEMPLATE.version
    context_template: str = DEFAULT_TEMPLATE.context
    product_prompt: str = DEFAULT_TEMPLATE.prompts["product"]
    complaint_prompt: str = DEFAULT_TEMPLATE.prompts["complaint"]
    max_dialogue_chars: int = DEFAULT_TEMPLATE.max_dialogue_chars
    session_timeout_s: float = 6.0
    inference_enabled: bool = True  # False runs assembly alone (the ingestion benchmark)
    stall_timeout_s: float = 120.0  # an input partition behind and not moving this long: exit to be restarted (0: off)
    heartbeat_interval_s: float = 1.0
    # The worker's producer waits this long to fill a batch: fewer, larger produce requests for the broker to handle.
    producer_linger_s: float = 0.005
    label_count_every_s: float = 30.0  # how often the worker republishes every label count (windows move on)
    rules_refresh_s: float = 1.0  # how often the worker looks for changed QA rules (callqa.rule.v1)
    # Dashboard (`callqa dashboard`)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 18080
    dashboard_token: SecretStr | None = None  # login token; `callqa dashboard` generates one when unset
    dashboard_history_s: int = 7200  # how far back the dashboard reads calls, alerts and counts at start
    # How far back it reads scorecards at start, for the agent view (kept as per agent per day sums, not records).
    dashboard_scorecard_history_s: int = 30 * 86400
    dashboard_utc_offset_h: float = 8.0  # where the agent view's days begin: the call centre's time zone (China: UTC+8)
    dashboard_max_calls: int = 500  # calls kept for the call list (the oldest finished ones go first)
    dashboard_session_ttl_s: float = 8 * 3600  # a session ends after this (a shift), or at logout
    dashboard_login_max_failures: int = 5  # failed logins per client address within the window, then refused (429)
    dashboard_login_window_s: float = 300.0

    # The QA database (`callqa sink` fills it; `callqa export-csv`, `callqa check` read it): PostgreSQL with pgvector.
    # A libpq URL or key=value string (password included, hence a secret); unset: the local stack's own server
    # (`callqa up`, the demo), on 127.0.0.1:CALLQA_DATABASE_LOCAL_PORT.
    database_url: SecretStr | None = None
    database_local_port: int = 15432
    sink_group: str = "callqa-qadb-sink"  # the sink's consumer group: its committed offsets say what is stored
    sink_batch_size: int = Field(default=500, ge=1)  # records per transaction, at most
    sink_batch_window_s: float = 1.0  # a batch is written when full or this old
    sink_progress_every_s: float = 10.0  # how often the sink logs what it stored (records/s)
    call_vector_dim: int = 0  # of call_vectors.vector; 0: the first stored vector's
    # A label added or re-worded is scored against the stored vectors of the calls of the last days (the dashboard
    # runs it: it has the catalog and Triton); a call matches when the label beats its final attribution's best other
    # label and reaches the floor.
    backfill_days: float = Field(default=30.0, gt=0)
    backfill_min_score: float = 0.0
    backfill_check_every_s: float = 2.0  # how often the dashboard looks for labels to back-fill
    # Agreement of the final attributions with the human spot checks: an alert (dashboard, /metrics) when the 7-day
    # figure falls more than the margin below the last model version's.
    agreement_margin: float = 0.05
    agreement_every_s: float = 30.0

    def topic(self, event: str) -> str:
        return f"{self.topic_prefix}.{event}.{SCHEMA_VERSION}"

    def template(self) -> Template:
        return Template(
            version=self.template_version,
            context=self.context_template,
            prompts={"product": self.product_prompt, "complaint": self.complaint_prompt},
            max_dialogue_chars=self.max_dialogue_chars,
        )

    def database_dsn(self) -> str:
        """CALLQA_DATABASE_URL, else the local stack's own server."""
        if self.database_url and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"postgresql://postgres@127.0.0.1:{self.database_local_port}/callqa"

    def sasl_password(self) -> str:
        if self.kafka_sasl_password_file:
            return Path(self.kafka_sasl_password_file).read_text(encoding="utf-8").strip()
        return self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""

    def masked(self) -> dict:
        return {k: ("***" if isinstance(v, SecretStr) else v) for k, v in self.model_dump().items()}
