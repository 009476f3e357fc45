"""Pipeline health for the dashboard and its metrics: the worker group's consumer lag and Triton's state."""
from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.core.kafka import kafka_config
from streams.core.settings import Settings

log = logging.getLogger(__name__)
# The topics the worker group consumes.
WORKER_INPUTS = ("transcript", "account", "label", "human_label", "call_ready", "attribution_by_label")


class Lag:
    """Committed offsets of the worker group against the log end, per topic. Reads the group's offsets without
    joining it (a consumer that never subscribes), so the workers never rebalance because of the dashboard."""

    def __init__(self, settings: Settings) -> None:
        self.topics = [settings.topic(e) for e in WORKER_INPUTS]
        self.consumer = Consumer({**kafka_config(settings), "group.id": settings.app_id, "enable.auto.commit": False})

    def measure(self, timeout_s: float = 5.0) -> dict[str, int] | None:
        """Lag per topic; None when the broker does not answer. Blocking: call it from an executor."""
        try:
            metadata = self.consumer.list_topics(timeout=timeout_s).topics
            partitions = [TopicPartition(t, p) for t in self.topics if t in metadata for p in metadata[t].partitions]
            lag = dict.fromkeys(self.topics, 0)
            for tp in self.consumer.committed(partitions, timeout=timeout_s):
                low, high = self.consumer.get_watermark_offsets(tp, timeout=timeout_s)
                lag[tp.topic] += high - (tp.offset if tp.offset >= 0 else low)
            return lag
        except KafkaException as exc:
            log.warning("consumer lag unavailable: %s", exc)
            return None

    def close(self) -> None:
        self.consumer.close()


async def triton_state(url: str, model: str, timeout_s: float = 2.0) -> str:
    """ready | model_not_ready | not_ready | unreachable."""
    from tritonclient.grpc.aio import InferenceServerClient
    from tritonclient.utils import InferenceServerException

    client = InferenceServerClient(url)
    try:
        if not await client.is_server_ready(client_timeout=timeout_s):
            return "not_ready"
        return "ready" if await client.is_model_ready(model, client_timeout=timeout_s) else "model_not_ready"
    except InferenceServerException:
        return "unreachable"
    finally:
        await client.close()


class Metrics:
    """The health figures for Prometheus (GET /metrics), in a registry of the dashboard's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.lag = Gauge("callqa_consumer_lag", "Records the worker group has not committed yet", ["topic"], registry=self.registry)
        self.triton_ready = Gauge("callqa_triton_ready", "1 when Triton and the model are ready", registry=self.registry)
        self.throughput = Gauge("callqa_attributions_per_minute", "Final attributions a minute (last 5 minutes)", registry=self.registry)
        self.latency_p95 = Gauge("callqa_attribution_latency_p95_ms", "p95 end-to-end latency of final attributions "
                                 "(last 5 minutes)", registry=self.registry)
        self.clients = Gauge("callqa_dashboard_clients", "Pages connected for push updates", registry=self.registry)
        self.push = Histogram("callqa_dashboard_push_seconds", "Record produced on Kafka -> pushed to the pages",
                              buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.skipped = Counter("callqa_dashboard_skipped_records", "Records the dashboard could not decode", ["topic"],
                               registry=self.registry)

        self.agreement = Gauge("callqa_human_agreement", "Share of human spot checks the final attribution agrees with",
                               ["task", "days"], registry=self.registry)
        self.checked = Gauge("callqa_human_checks", "Human spot checks compared", ["task", "days"], registry=self.registry)
        self.baseline = Gauge("callqa_human_agreement_last_model", "The last model version's agreement (30 days)",
                              ["task"], registry=self.registry)
        self.agreement_alert = Gauge("callqa_human_agreement_alert", "1 when 7 days fall more than "
                                     "CALLQA_AGREEMENT_MARGIN below the last model's", ["task"], registry=self.registry)

    def update_agreement(self, report: dict) -> None:
        for window in report["windows"]:
            for t in window["tasks"]:
                self.checked.labels(t["task"], str(window["days"])).set(t["checked"])
                if t["agreement"] is not None:
                    self.agreement.labels(t["task"], str(window["days"])).set(t["agreement"])
        for task, value in report["baseline"].items():
            self.baseline.labels(task).set(value)
        alerting = {a["task"] for a in report["alerts"]}
        for task in {t["task"] for w in report["windows"] for t in w["tasks"]} | set(report["baseline"]):
            self.agreement_alert.labels(task).set(1 if task in alerting else 0)

    def update(self, health: dict) -> None:
        for topic, lag in (health.get("lag") or {}).items():
            self.lag.labels(topic).set(lag)
        self.triton_ready.set(1 if health["triton"] == "ready" else 0)
        self.throughput.set(health["attributions_per_min"])
        if health["latency_p95_ms"] is not None:
            self.latency_p95.set(health["latency_p95_ms"])
