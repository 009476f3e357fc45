"""`callqa bench`: throughput, latency and cost of the live pipeline, against Triton's own limit and the naive ways.

Each pipeline mode gets its own topics (a fresh prefix) and its own worker, on one broker and one Triton server, so
modes never see each other's records. Calls are dialogues from ../shared/data (CSDS) when it is there, else the
generated sample; each call's segments are spread over `call_s` seconds, and calls start at the offered rate.
"""
from __future__ import annotations

import csv
import heapq
import io
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson
import psutil
from rapidfuzz.distance import LCSseq

from streams.core.codec import decode, encode, now_ms
from streams.core.kafka import consumer_from_start
from streams.core.records import TASKS, Rule
from streams.core.render import DEFAULT_TEMPLATE, normalise_text, render, render_context
from streams.core.settings import Settings
from streams.core.summarise import summarise
from streams.core.topics import create_topics
from streams.tools.bench.report import reference_step, summarise_report, write_outputs
from streams.tools.replay import producer, publish
from streams.tools.sample.generate import write_sample
from streams.tools.stack import HOME, Process, worker_process
from streams.worker.steps.rules import RuleBook

log = logging.getLogger(__name__)

# perf_analyzer ships as a binary inside the tritonclient wheels up to 2.60 (the PyPI `perf-analyzer` is a
# placeholder); 2.50 is the newest built for this glibc, and it needs libb64 and libcudart, which the
# nvidia-pytriton wheel carries under hashed names.
PERF_ANALYZER_WHEEL = "tritonclient==2.50.0"


@dataclass
class BenchConfig:
    start_rate: float = 1.0  # calls/s of the ladder's first step
    growth: float = 1.25  # each step offers this many times the last
    max_steps: int = 14
    step_s: float = 30.0  # how long calls keep starting at one rate
    call_s: float = 8.0  # a call's segments are spread over this long
    p95_bound_s: float = 2.0  # the ladder stops at the first rate whose p95 passes this (or that falls behind)
    drain_s: float = 60.0  # how long a step may take to finish its calls after the last one ended
    perf_interval_ms: int = 8000
    perf_stability_pct: int = 25  # perf_analyzer's stability bound: three windows within this of each other
    lcs_dialogues: int = 300
    rule_phrases: int = 5000  # forbidden phrases of the rule-matching part, matched against the data's segments
    ingestion_calls: int = 1500
    modes: tuple[str, ...] = ("micro-batched", "one-in-flight", "one-request", "in-process")
    # Live capacity: calls at the data's own pace (`live_pace` 1), this many open at once, each level held this long
    # after every slot filled, raised until provisional or final p95 passes the bound.
    live_concurrency: tuple[int, ...] = (50, 75, 100, 150, 200, 300)
    live_hold_s: float = 60.0
    live_p95_bound_s: float = 1.5
    live_pace: float = 1.0
    # How cost grows: worker CPU per call with this many labels in the catalog, and with this many calls held open
    # (started, one segment, never ended), each point a fresh worker offered `curve_rate` calls/s for `curve_s`.
    curve_catalog_sizes: tuple[int, ...] = (10, 100, 1000, 5000)
    curve_open_calls: tuple[int, ...] = (100, 1000, 10000)
    curve_rate: float = 0.5
    curve_s: float = 40.0
    # Past calls: a label back-filled over this many stored call vectors, and searches by meaning over them, in a
    # throwaway PostgreSQL (past_calls_bench). past_dim 0: the served model's vector size (its last projection
    # layer, read from the model folder), 512 (bge-small's) where the folder does not say.
    past_calls: int = 100_000
    past_dim: int = 0
    past_searches: int = 200


SMOKE = BenchConfig(start_rate=2.0, growth=2.0, max_steps=2, step_s=3.0, call_s=2.0, p95_bound_s=30.0, drain_s=60.0,
                    perf_interval_ms=1500, perf_stability_pct=999, lcs_dialogues=20, rule_phrases=500, ingestion_calls=60,
                    live_concurrency=(4,), live_hold_s=2.0, live_p95_bound_s=30.0, live_pace=20.0,
                    curve_catalog_sizes=(10, 100), curve_open_calls=(100,), curve_rate=2.0, curve_s=3.0,
                    past_calls=2000, past_searches=20)
MODE_ENV = {  # what each pipeline mode changes in the worker's configuration
    "micro-batched": {},
    "one-in-flight": {"CALLQA_BATCHES_IN_FLIGHT": "1"},  # micro-batched, waiting for each batch before the next
    "one-request": {"CALLQA_BATCH_SIZE": "1", "CALLQA_TRITON_MAX_BATCH": "1"},
    "in-process": {},
    "live": {},  # the default path, at real pace
    "curve": {},  # the default path, with a larger catalog or many calls open
    "ingestion": {"CALLQA_INFERENCE_ENABLED": "false"},
}
MODE_MODULE = {"in-process": "streams.tools.bench.inprocess"}  # the worker with the model inside; else `callqa worker`


# --- calls ---------------------------------------------------------------------------------------------------------

def bench_dialogues(data_dir: Path | None, work: Path) -> tuple[list[list[dict]], str]:
    """Turn lists with the data's own segment counts and lengths: CSDS dialogues, else the generated sample's calls."""
    from training.data import load_calls, read_csds

    csds = data_dir / "csds_topic_train.jsonl" if data_dir else None
    if csds and csds.exists():
        # ASR knows two channels: third parties in the chat logs (merchant, courier) speak on the agent's side.
        dialogues = [[{"speaker": t["speaker"] if t["speaker"] == "customer" else "agent", "text": t["text"][:4000]}
                      for t in d.turns if t["text"].strip()] for d in read_csds(csds)]
        return [d for d in dialogues if d], str(csds)
    sample = work / "sample"
    if not (sample / "transcript.jsonl").exists():
        write_sample(sample, calls=300, seed=11)
    return [call.turns for call in load_calls(sample)], "generated sample"


def call_events(call_id: str, user_id: str, turns: list[dict]) -> list[dict]:
    """A call's transcript events; event times are stamped when they are sent."""
    events = [{"type": "call_start", "call_id": call_id, "user_id": user_id, "agent_id": "agent-bench"}]
    clock = 0
    for seq, turn in enumerate(turns):
        length = 300 + 200 * len(turn["text"])  # about five characters a second
        events.append({"type": "segment", "call_id": call_id, "user_id": user_id, "seq": seq, "speaker": turn["speaker"],
                       "text": turn["text"], "start_ms": clock, "end_ms": clock + length})
        clock += length + 200
    events.append({"type": "call_end", "call_id": call_id, "user_id": user_id, "segment_count": len(turns)})
    return events


def real_pace_s(events: list[dict]) -> list[float]:
    """Seconds into the call at which ASR sends each event: a segment when its speaker stops, the call's end 200 ms
    after the last segment."""
    last_ms = max((e["end_ms"] for e in events if e["type"] == "segment"), default=0)
    sent_ms = {"call_start": 0, "call_end": last_ms + 200}
    return [(e["end_ms"] if e["type"] == "segment" else sent_ms[e["type"]]) / 1000 for e in events]


@dataclass
class Lane:
    """One pipeline mode: its settings (topic prefix), its worker, and the accounts it knows."""

    name: str
    settings: Settings
    users: list[str]
    worker: Process | None = None
    calls_sent: int = 0


# --- measuring -------------------------------------------------------------------------------------------------------

class Monitor:
    """CPU and peak memory of named process trees, sampled twice a second."""

    def __init__(self) -> None:
        self.processes: dict[str, psutil.Process] = {}
        self.alone: set[str] = set()  # processes counted without their children (which are watched by name)
        self.peak_rss: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def watch(self, name: str, pid: int, children: bool = True) -> None:
        self.processes[name] = psutil.Process(pid)
        if not children:
            self.alone.add(name)

    def forget(self, name: str) -> None:
        self.processes.pop(name, None)

    def _tree(self, name: str, proc: psutil.Process) -> list[psutil.Process]:
        try:
            return [proc] if name in self.alone else [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_s(self) -> dict[str, float]:
        totals = {}
        for name, proc in list(self.processes.items()):
            total = 0.0
            for p in self._tree(name, proc):
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
            totals[name] = total
        return totals

    def reset_peaks(self) -> None:
        self.peak_rss = {}

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for name, proc in list(self.processes.items()):
                rss = 0
                for p in self._tree(name, proc):
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)

    def usage(self, before: dict[str, float], after: dict[str, float], wall_s: float) -> dict:
        return {name: {"cpu_pct": round(100 * (after[name] - before.get(name, 0.0)) / wall_s, 1),
                       "cpu_s": round(after[name] - before.get(name, 0.0), 2),
                       "peak_rss_mb": round(self.peak_rss.get(name, 0) / 2**20, 1)}
                for name in after}

    def close(self) -> None:
        self._stop.set()


class TritonStats:
    """Executions (batches) and inferences (texts) of the encoder-decoder, the model that costs."""

    def __init__(self, url: str | None) -> None:
        self.client = None
        if url:
            import tritonclient.grpc as grpcclient

            self.client = grpcclient.InferenceServerClient(url=url)

    def read(self) -> dict:
        if self.client is None:
            return {"inferences": 0, "executions": 0, "queue_ns": 0, "compute_ns": 0}
        stats = self.client.get_inference_statistics("callqa_encoder_decoder", as_json=True)["model_stats"]
        out = {"inferences": 0, "executions": 0, "queue_ns": 0, "compute_ns": 0}
        for s in stats:
            out["inferences"] += int(s.get("inference_count", 0))
            out["executions"] += int(s.get("execution_count", 0))
            infer = s.get("inference_stats", {})
            out["queue_ns"] += int(infer.get("queue", {}).get("ns", 0))
            out["compute_ns"] += int(infer.get("compute_infer", {}).get("ns", 0))
        return out

    @staticmethod
    def delta(before: dict, after: dict) -> dict:
        d = {k: after[k] - before[k] for k in before}
        return {"inferences": d["inferences"], "executions": d["executions"],
                "avg_batch": round(d["inferences"] / d["executions"], 2) if d["executions"] else 0.0,
                "queue_ms_per_exec": round(d["queue_ns"] / 1e6 / d["executions"], 2) if d["executions"] else 0.0,
                "compute_ms_per_exec": round(d["compute_ns"] / 1e6 / d["executions"], 2) if d["executions"] else 0.0}


class Finals:
    """Reads a lane's attribution topic; per call, when both final attributions arrived and how long they took."""

    def __init__(self, settings: Settings, event: str = "attribution") -> None:
        self.consumer = consumer_from_start(settings, settings.topic(event), "bench")
        self.latency_ms: dict[str, dict[str, int]] = {}  # call -> task -> end-to-end ms
        self.done_at: dict[str, int] = {}  # call -> produced_at of its last final
        self.provisional = 0
        self.every: list[tuple[str, int, int, bool]] = []  # (call, produced_at, end-to-end ms, final) of each record

    def poll(self, timeout_s: float = 0.2) -> None:
        for message in self.consumer.consume(1000, timeout=timeout_s):
            if message.error() is None:
                self._take(orjson.loads(message.value()))

    def _take(self, record: dict) -> None:
        self.every.append((record["call_id"], record["produced_at"], record["timings_ms"]["end_to_end"], record["final"]))
        if not record["final"]:
            self.provisional += 1
            return
        tasks = self.latency_ms.setdefault(record["call_id"], {})
        tasks[record["task"]] = record["timings_ms"]["end_to_end"]
        if len(tasks) == len(TASKS):
            self.done_at[record["call_id"]] = record["produced_at"]

    def wait(self, calls: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(c in self.done_at for c in calls):
                return True
            self.poll()
        return all(c in self.done_at for c in calls)

    def close(self) -> None:
        self.consumer.close()


class ReadyRecords(Finals):
    """The call_ready topic of an assembly-only lane: per final snapshot, its segments and when it was made."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "call_ready")
        self.records: list[dict] = []

    def _take(self, record: dict) -> None:
        self.records.append({"final": record["final"], "segments": record["segment_count"], "ready_ts": record["ready_ts"]})
        if record["final"]:
            self.done_at[record["call_id"]] = record["ready_ts"]


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    p = np.percentile(np.asarray(values, dtype=float), [50, 95, 99])
    return {"p50": round(float(p[0])), "p95": round(float(p[1])), "p99": round(float(p[2]))}


# --- the bench -------------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, config: BenchConfig, bootstrap: str, triton_url: str | None, model_dir: Path, work: Path,
                 data_dir: Path | None = None, watch_pids: dict[str, int] | None = None) -> None:
        self.config, self.bootstrap, self.triton_url, self.model_dir, self.work = config, bootstrap, triton_url, model_dir, work
        self.work.mkdir(parents=True, exist_ok=True)
        self.run_id = uuid.uuid4().hex[:6]
        self.dialogues, self.source = bench_dialogues(data_dir, work)
        catalog_dir = work / "catalog"
        if not (catalog_dir / "catalog.jsonl").exists():
            write_sample(catalog_dir, calls=20, seed=5)
        self.catalog_dir = catalog_dir
        self.accounts = [orjson.loads(l) for l in (catalog_dir / "accounts.jsonl").read_bytes().splitlines()]
        self.monitor = Monitor()
        self.monitor.watch("bench (load + reading)", os.getpid(), children=False)
        for name, pid in (watch_pids or {}).items():
            self.monitor.watch(name, pid)
        self.triton = TritonStats(triton_url)
        self.report: dict = {"config": asdict(self.config), "calls_from": self.source, "model_dir": str(model_dir),
                             "triton_url": triton_url, "machine": {"cpus": os.cpu_count(),
                                                                   "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
                             "dialogues": self.dialogue_stats()}

    def dialogue_stats(self) -> dict:
        segments = [len(d) for d in self.dialogues]
        chars = [len(t["text"]) for d in self.dialogues for t in d]
        return {"count": len(self.dialogues), "segments_per_call_mean": round(statistics.mean(segments), 1),
                "segments_per_call_median": statistics.median(segments), "chars_per_segment_mean": round(statistics.mean(chars), 1)}

    # lanes ----------------------------------------------------------------------------------------------------------
    def lane(self, mode: str, tag: str = "", catalog: Path | None = None) -> Lane:
        prefix = f"bench-{self.run_id}-{mode}{tag}"
        settings = Settings(kafka_bootstrap_servers=self.bootstrap, topic_prefix=prefix, app_id=f"{prefix}-worker",
                            triton_url=self.triton_url or "127.0.0.1:1", in_process_model_dir=str(self.model_dir))
        create_topics(settings)
        publish(settings, "label", catalog or self.catalog_dir / "catalog.jsonl")
        publish(settings, "account", self.catalog_dir / "accounts.jsonl")
        return Lane(mode, settings, [a["user_id"] for a in self.accounts])

    def start_worker(self, lane: Lane) -> None:
        s = lane.settings
        env = {"CALLQA_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers, "CALLQA_TOPIC_PREFIX": s.topic_prefix,
               "CALLQA_APP_ID": s.app_id, "CALLQA_TRITON_URL": s.triton_url, "CALLQA_IN_PROCESS_MODEL_DIR": str(self.model_dir),
               "CALLQA_DATA_DIR": str(self.work / s.app_id), **MODE_ENV[lane.name]}
        lane.worker = worker_process(f"bench-worker-{lane.name}", env, self.work / "logs",
                                     module=MODE_MODULE.get(lane.name, "streams.cli")).start()
        self.monitor.watch("worker", lane.worker.proc.pid)

    def stop_worker(self, lane: Lane) -> None:
        if lane.worker:
            lane.worker.stop()
            self.monitor.forget("worker")

    def offer(self, lane: Lane, rate: float, seconds: float) -> tuple[list[str], int, float]:
        """Start calls at `rate` for `seconds`, each call's segments spread over call_s; returns the calls, segments
        sent and the time the first call ended."""
        n = max(1, round(rate * seconds))
        schedule, calls, segments = [], [], 0
        for i in range(n):
            call_id = f"{lane.settings.topic_prefix}-{lane.calls_sent + i:07d}"
            turns = self.dialogues[(lane.calls_sent + i) % len(self.dialogues)]
            events = call_events(call_id, lane.users[(lane.calls_sent + i) % len(lane.users)], turns)
            start = i / rate
            for j, event in enumerate(events):
                at = start + self.config.call_s * j / (len(events) - 1)
                schedule.append((at, i, j, event))
            calls.append(call_id)
            segments += len(turns)
        lane.calls_sent += n
        return calls, segments, self.send(lane, schedule)

    def send(self, lane: Lane, schedule: list[tuple]) -> int | None:
        """Produce (at seconds, call, index, event) entries at their times; returns when the first call ended."""
        heapq.heapify(schedule)
        out, topic = producer(lane.settings), lane.settings.topic("transcript")
        began = time.monotonic()
        first_end = None
        while schedule:
            at, _, _, event = heapq.heappop(schedule)
            wait = at - (time.monotonic() - began)
            if wait > 0:
                out.poll(0)
                time.sleep(wait)
            stamped = now_ms()
            event["event_time"] = stamped
            if event["type"] == "call_end" and first_end is None:
                first_end = stamped
            out.produce(topic, value=orjson.dumps(event), key=event["call_id"].encode())
            out.poll(0)
        out.flush(30)
        return first_end

    def step(self, lane: Lane, finals: Finals, rate: float, seconds: float) -> dict:
        cpu0, triton0, wall0 = self.monitor.cpu_s(), self.triton.read(), time.monotonic()
        self.monitor.reset_peaks()
        provisional0 = finals.provisional
        calls, segments, first_end = self.offer(lane, rate, seconds)
        offered_s = time.monotonic() - wall0
        complete = finals.wait(calls, self.config.drain_s)
        wall = time.monotonic() - wall0
        done = [c for c in calls if c in finals.done_at]
        per_call = [max(finals.latency_ms[c].values()) for c in done]
        span_s = (max(finals.done_at[c] for c in done) - first_end) / 1000 + 1 / rate if done else float("inf")
        result = {
            "rate_offered": round(rate, 2), "calls": len(calls), "completed": len(done),
            "rate_achieved": round(len(done) / span_s, 2) if done else 0.0,
            "segments_per_s": round(segments / offered_s, 1),
            "latency_ms": percentiles(per_call),
            "provisional_per_call": round((finals.provisional - provisional0) / len(calls) / len(TASKS), 2),
            "triton": TritonStats.delta(triton0, self.triton.read()),
            "processes": self.monitor.usage(cpu0, self.monitor.cpu_s(), wall),
            "wall_s": round(wall, 1),
        }
        result["inferences_per_call"] = round(result["triton"]["inferences"] / len(calls), 2)
        p95 = result["latency_ms"]["p95"]
        result["sustained"] = complete and p95 is not None and p95 <= self.config.p95_bound_s * 1000 \
            and result["rate_achieved"] >= 0.9 * rate
        log.info("%s %.2f calls/s: %d/%d calls, achieved %.2f/s, p50/p95/p99 %s ms, %s", lane.name, rate, len(done),
                 len(calls), result["rate_achieved"], "/".join(str(v) for v in result["latency_ms"].values()),
                 "sustained" if result["sustained"] else "NOT sustained")
        return result

    def warm_up(self, lane: Lane, finals: Finals) -> None:
        """Calls until the worker answers: joins the group, fills the label-vector cache, wakes Triton."""
        calls, _, _ = self.offer(lane, rate=4.0, seconds=1.0)
        if not finals.wait(calls, 300):
            raise RuntimeError(f"the {lane.name} worker produced no final attributions in 300 s: see {self.work / 'logs'}")

    def ladder(self, mode: str, max_steps: int, half_rate_check: bool) -> dict:
        lane = self.lane(mode)
        self.start_worker(lane)
        finals = Finals(lane.settings)
        try:
            self.warm_up(lane, finals)
            steps, rate = [], self.config.start_rate
            for _ in range(max_steps):
                steps.append(self.step(lane, finals, rate, self.config.step_s))
                if not steps[-1]["sustained"]:
                    break
                rate *= self.config.growth
            sustained = [s for s in steps if s["sustained"]]
            best = max(sustained, key=lambda s: s["rate_achieved"]) if sustained else None
            result = {"steps": steps, "max_sustained_rate": best["rate_achieved"] if best else 0.0,
                      "at_max": best, "exhausted": bool(steps[-1]["sustained"])}
            if half_rate_check and best:
                result["half_rate"] = self.step(lane, finals, best["rate_offered"] / 2, self.config.step_s)
            return result
        finally:
            finals.close()
            self.stop_worker(lane)

    def live_capacity(self) -> dict:
        """Calls at the data's own pace (each segment sent when its speaker stops, calls lasting minutes), `concurrency`
        of them open at once, raised until provisional or final p95 passes the bound: concurrent live calls per
        machine. Latency counts the records of the level's held part, once every call slot was busy."""
        lane = self.lane("live")
        self.start_worker(lane)
        finals = Finals(lane.settings)
        try:
            self.warm_up(lane, finals)
            levels = []
            for concurrency in self.config.live_concurrency:
                levels.append(self.live_level(lane, finals, concurrency))
                if not levels[-1]["sustained"]:
                    break
            held = [level["concurrency"] for level in levels if level["sustained"]]
            return {"levels": levels, "max_concurrent_calls": max(held, default=0),
                    "p95_bound_ms": round(self.config.live_p95_bound_s * 1000), "pace": self.config.live_pace}
        finally:
            finals.close()
            self.stop_worker(lane)

    def live_level(self, lane: Lane, finals: Finals, concurrency: int) -> dict:
        pace, hold_s = self.config.live_pace, self.config.live_hold_s
        rotated = self.dialogues[lane.calls_sent % len(self.dialogues):] + self.dialogues[:lane.calls_sent % len(self.dialogues)]
        paced = [real_pace_s(call_events("c", "u", turns)) for turns in rotated]
        mean_call_s = statistics.mean(times[-1] for times in paced) / pace
        interval = mean_call_s / concurrency  # a new call as often as one ends: `concurrency` open on average
        n = int((mean_call_s + hold_s) / interval) + 1
        schedule, calls, segments, spans = [], [], 0, []
        for i in range(n):
            call_id = f"{lane.settings.topic_prefix}-{lane.calls_sent + i:07d}"
            turns, times = rotated[i % len(rotated)], paced[i % len(rotated)]
            events = call_events(call_id, lane.users[(lane.calls_sent + i) % len(lane.users)], turns)
            start = i * interval
            schedule += [(start + at / pace, i, j, event) for j, (at, event) in enumerate(zip(times, events))]
            spans.append((start, start + times[-1] / pace))
            calls.append(call_id)
            segments += len(turns)
        lane.calls_sent += n
        full_at = [mean_call_s + k for k in range(int(hold_s) + 1)]
        open_calls = [sum(1 for a, b in spans if a <= t < b) for t in full_at]
        cpu0, triton0, wall0 = self.monitor.cpu_s(), self.triton.read(), time.monotonic()
        self.monitor.reset_peaks()
        began_ms = now_ms()
        self.send(lane, schedule)
        complete = finals.wait(calls, self.config.drain_s)
        wall = time.monotonic() - wall0
        mine, held_from = set(calls), began_ms + mean_call_s * 1000
        held = [(e2e, final) for call, produced, e2e, final in finals.every if call in mine and produced >= held_from]
        provisional, final = percentiles([e for e, f in held if not f]), percentiles([e for e, f in held if f])
        overall = percentiles([e for e, _ in held])
        bound = self.config.live_p95_bound_s * 1000
        sustained = complete and bool(held) and all(p["p95"] is None or p["p95"] <= bound for p in (provisional, final))
        result = {"concurrency": concurrency, "calls": n, "completed": sum(c in finals.done_at for c in calls),
                  "mean_call_s": round(mean_call_s, 1), "open_calls_held": {"min": min(open_calls), "max": max(open_calls)},
                  "segments_per_s": round(segments / wall, 1), "records_held": len(held),
                  "latency_ms": {"provisional": provisional, "final": final, "all": overall},
                  "triton": TritonStats.delta(triton0, self.triton.read()),
                  "processes": self.monitor.usage(cpu0, self.monitor.cpu_s(), wall), "wall_s": round(wall, 1),
                  "sustained": sustained}
        log.info("live %d calls open (%d-%d held): p95 provisional %s ms, final %s ms: %s", concurrency, min(open_calls),
                 max(open_calls), provisional["p95"], final["p95"], "held" if sustained else "NOT held")
        return result

    def cost_curves(self) -> dict:
        """Worker CPU per completed call against the catalog's size and against calls held open: a fresh worker per
        point, warmed up (label vectors computed), then offered `curve_rate` calls/s for `curve_s`."""
        base = [orjson.loads(l) for l in (self.catalog_dir / "catalog.jsonl").read_bytes().splitlines()]
        catalog = []
        for size in self.config.curve_catalog_sizes:
            path = self.work / f"catalog-{size}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(label) + b"\n" for label in curve_catalog(base, size)))
            catalog.append({"labels": size, **self.curve_point(f"-labels{size}", path)})
        held = [{"open_calls": n, **self.curve_point(f"-open{n}", open_calls=n)} for n in self.config.curve_open_calls]
        return {"catalog": catalog, "open_calls": held, "rate": self.config.curve_rate, "seconds": self.config.curve_s}

    def curve_point(self, tag: str, catalog: Path | None = None, open_calls: int = 0) -> dict:
        lane = self.lane("curve", tag, catalog)
        self.start_worker(lane)
        finals = Finals(lane.settings)
        try:
            self.warm_up(lane, finals)
            if open_calls:
                self.hold_open(lane, open_calls)
                self.warm_up(lane, finals)  # after the open calls on every partition: they are all in the table
            step = self.step(lane, finals, self.config.curve_rate, self.config.curve_s)
        finally:
            finals.close()
            self.stop_worker(lane)
        worker = step["processes"].get("worker", {})
        result = {"completed": step["completed"], "calls": step["calls"], "latency_ms": step["latency_ms"],
                  "worker_cpu_ms_per_call": round(1000 * worker.get("cpu_s", 0.0) / max(step["completed"], 1), 1),
                  "worker_peak_rss_mb": worker.get("peak_rss_mb")}
        log.info("cost curve %s: worker %.1f ms CPU per call, p95 %s ms", tag, result["worker_cpu_ms_per_call"],
                 step["latency_ms"]["p95"])
        return result

    def hold_open(self, lane: Lane, n: int) -> None:
        """`n` calls started with one segment each and never ended: the calls table holds them."""
        out, topic = producer(lane.settings), lane.settings.topic("transcript")
        for i in range(n):
            call_id = f"{lane.settings.topic_prefix}-open-{i:06d}"
            for event in call_events(call_id, lane.users[i % len(lane.users)], self.dialogues[i % len(self.dialogues)][:1])[:2]:
                out.produce(topic, value=orjson.dumps({**event, "event_time": now_ms()}), key=call_id.encode())
                out.poll(0)
        out.flush(60)

    def ingestion(self) -> dict:
        """Assembly alone: the transcript topic filled first, then one worker with inference off drains it."""
        lane = self.lane("ingestion")
        out, topic, segments = producer(lane.settings), lane.settings.topic("transcript"), 0
        calls = []
        for i in range(self.config.ingestion_calls):
            turns = self.dialogues[i % len(self.dialogues)]
            call_id = f"{lane.settings.topic_prefix}-{i:07d}"
            for event in call_events(call_id, lane.users[i % len(lane.users)], turns):
                event["event_time"] = now_ms()
                out.produce(topic, value=orjson.dumps(event), key=call_id.encode())
                out.poll(0)
            calls.append(call_id)
            segments += len(turns)
        out.flush(60)
        ready = ReadyRecords(lane.settings)
        cpu0 = self.monitor.cpu_s()
        self.monitor.reset_peaks()
        wall0 = time.monotonic()
        self.start_worker(lane)
        try:
            complete = ready.wait(calls, 600)
            wall = time.monotonic() - wall0
            stamps = [r["ready_ts"] for r in ready.records]
            span_s = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else float("inf")
            rate = segments / span_s
            log.info("ingestion: %d segments of %d calls, %.0f segments/s", segments, len(calls), rate)
            return {"calls": len(calls), "segments": segments, "complete": complete, "segments_per_s": round(rate),
                    "snapshots": len(ready.records), "processes": self.monitor.usage(cpu0, self.monitor.cpu_s(), wall)}
        finally:
            ready.close()
            self.stop_worker(lane)

    # the model's own limit ------------------------------------------------------------------------------------------
    def perf_analyzer(self, batch_sizes: list[int], concurrencies: tuple[int, ...] = (1, 2)) -> list[dict]:
        binary, env = perf_analyzer_binary()
        data = self.work / "perf_input.json"
        texts = [render(d, None, task, DEFAULT_TEMPLATE) for d in self.dialogues[:200] for task in TASKS]
        data.write_text(json.dumps({"data": [{"TEXT": [t]} for t in texts]}, ensure_ascii=False))
        results = []
        for batch in batch_sizes:
            for concurrency in concurrencies:
                out = self.work / f"perf_b{batch}_c{concurrency}.csv"
                argv = [str(binary), "-m", "callqa_embed", "-u", self.triton_url, "-i", "grpc", "-b", str(batch),
                        "--concurrency-range", f"{concurrency}:{concurrency}", "--input-data", str(data),
                        "--measurement-interval", str(self.config.perf_interval_ms), "--stability-percentage", str(self.config.perf_stability_pct),
                        "--max-trials", "10", "-f", str(out)]
                cpu0 = self.monitor.cpu_s()
                wall0 = time.monotonic()
                run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
                stable = run.returncode == 0
                if not stable and "stable measurement" in run.stdout:  # a noisy machine: keep the last window, say so
                    argv[argv.index("--stability-percentage") + 1] = "999"
                    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
                if run.returncode != 0:
                    raise RuntimeError(f"perf_analyzer failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
                row = next(csv.DictReader(io.StringIO(out.read_text())))
                result = {"batch": batch, "concurrency": concurrency, "stable": stable, "inferences_per_s": round(float(row["Inferences/Second"]), 1),
                          "latency_ms": {f"p{q}": round(int(row[f"p{q} latency"]) / 1000, 1) for q in (50, 95, 99)},
                          "processes": self.monitor.usage(cpu0, self.monitor.cpu_s(), time.monotonic() - wall0)}
                log.info("perf_analyzer batch %d concurrency %d: %.1f inferences/s, p95 %.1f ms", batch, concurrency,
                         result["inferences_per_s"], result["latency_ms"]["p95"])
                results.append(result)
        return results

    # the parts, one by one ---------------------------------------------------------------------------------------
    def lcs(self) -> dict:
        """The summariser on the data's dialogues, rapidfuzz against a plain-Python DP: calls/s and the ratio."""
        contexts = [render_context(d, self.accounts[0], DEFAULT_TEMPLATE) for d in self.dialogues[: self.config.lcs_dialogues]]
        rates, picked = {}, {}
        # The DP takes about a third of a second a call: it runs on the first 50 dialogues, rapidfuzz on all of them.
        for name, lcs_length, sample in (("rapidfuzz", LCSseq.similarity, contexts), ("python_dp", python_lcs_length, contexts[:50])):
            t0 = time.perf_counter()
            picked[name] = [summarise(c, 3, lcs_length) for c in sample]
            rates[name] = len(sample) / (time.perf_counter() - t0)
        same = picked["rapidfuzz"][:50] == picked["python_dp"]
        result = {"dialogues": len(contexts), "chars_mean": round(statistics.mean(map(len, contexts))),
                  "rapidfuzz_calls_per_s": round(rates["rapidfuzz"], 1), "python_dp_calls_per_s": round(rates["python_dp"], 2),
                  "ratio": round(rates["rapidfuzz"] / rates["python_dp"], 1), "same_summaries": same}
        log.info("LCS summariser: rapidfuzz %.1f calls/s, Python DP %.2f calls/s, ×%.1f", result["rapidfuzz_calls_per_s"],
                 result["python_dp_calls_per_s"], result["ratio"])
        return result

    def rules(self) -> dict:
        """Forbidden-phrase matching per segment: the rule book's one automaton over `rule_phrases` phrases against a
        loop over the phrases, on every segment of the data's dialogues; both must find the same phrases. The phrases
        are 3-6 character pieces of the dialogues themselves (a few hundred occur), drawn with a fixed seed."""
        rng = random.Random(7)
        segments = [normalise_text(t["text"]) for d in self.dialogues for t in d if t["text"]]
        phrases: set[str] = set()
        while len(phrases) < self.config.rule_phrases:
            text = rng.choice(segments)
            if len(text) >= 6:
                size = rng.randint(3, 6)
                at = rng.randrange(len(text) - size + 1)
                phrases.add(text[at:at + size].lower())
        phrases = sorted(phrases)
        rule = Rule(rule_id="bench", name="bench", kind="forbidden", speaker="agent", phrases=phrases, weight=1,
                    severity="minor", active=True, updated_at=0)
        t0 = time.perf_counter()
        book = RuleBook([rule])
        build_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        found = [{h.phrase for h in book.hits(s)} for s in segments]
        automaton_s = time.perf_counter() - t0
        sample = segments[: max(1, len(segments) // 10)]  # the loop is slow: a tenth of the segments
        t0 = time.perf_counter()
        looped = [{p for p in phrases if p in s.lower()} for s in sample]
        loop_s = time.perf_counter() - t0
        result = {"phrases": len(phrases), "segments": len(segments), "build_ms": round(build_ms, 1),
                  "automaton_ms_per_segment": round(1000 * automaton_s / len(segments), 4),
                  "loop_ms_per_segment": round(1000 * loop_s / len(sample), 4),
                  "segments_with_a_hit": sum(1 for f in found if f), "same_hits": found[: len(sample)] == looped}
        result["ratio"] = round(result["loop_ms_per_segment"] / max(result["automaton_ms_per_segment"], 1e-6), 1)
        log.info("rules: %d phrases, automaton %.4f ms/segment, loop %.4f ms/segment, ×%.0f", len(phrases),
                 result["automaton_ms_per_segment"], result["loop_ms_per_segment"], result["ratio"])
        return result

    def past(self) -> dict:
        """Past calls: back-fill of new labels over `past_calls` stored call vectors, and search by meaning over
        them (past_calls_bench)."""
        dim = self.config.past_dim or model_vector_dim(self.model_dir) or PAST_DEFAULT_DIM
        return past_calls_bench(self.config.past_calls, dim, self.config.past_searches)

    def worker_parts(self, calls: int = 200) -> dict:
        """Worker CPU per call for the parts of attribution that are not inference, measured in this process."""
        account, parts = self.accounts[0], {}
        sample = self.dialogues[:calls]
        t0 = time.perf_counter()
        texts = [render(d, account, task, DEFAULT_TEMPLATE) for d in sample for task in TASKS]
        parts["render"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for d in sample:
            summarise(render_context(d, account, DEFAULT_TEMPLATE), 3)
        parts["lcs_summary"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for d, text in zip(sample, texts[::2]):
            ready = {"call_id": "c-1", "user_id": "u-1", "final": True, "turns": d, "segment_count": len(d), "missing_seqs": [],
                     "has_human_label": False, "trigger_ts": 1, "ready_ts": 2}
            decode(encode(ready), "call_ready")
            for event in call_events("c-1", "u-1", d):
                decode(encode({**event, "event_time": 1}), event["type"])
        parts["serialisation"] = time.perf_counter() - t0
        return {k: round(1000 * v / len(sample), 3) for k, v in parts.items()}

    def run(self, progress=lambda what: None) -> dict:
        progress("LCS summariser")
        self.report["lcs"] = self.lcs()
        progress(f"rule matching, {self.config.rule_phrases} forbidden phrases")
        self.report["rules"] = self.rules()
        if self.config.past_calls:
            progress(f"back-fill and search over {self.config.past_calls:,} stored call vectors")
            self.report["past"] = self.past()
        self.report["worker_parts_ms_per_call"] = self.worker_parts()
        progress("ingestion only")
        self.report["ingestion"] = self.ingestion()
        if not self.triton_url:
            return self.report
        pipeline = {}
        for mode in self.config.modes:
            progress(f"sustained load: {mode}")
            main = mode == "micro-batched"
            pipeline[mode] = self.ladder(mode, self.config.max_steps, half_rate_check=main)
        self.report["pipeline"] = pipeline
        if self.config.live_concurrency:
            progress(f"live capacity at {self.config.live_pace:g}× the data's pace")
            self.report["live"] = self.live_capacity()
        if self.config.curve_catalog_sizes or self.config.curve_open_calls:
            progress("cost against catalog size and calls held open")
            self.report["curves"] = self.cost_curves()
        progress("perf_analyzer")
        worker_batch = max(1, round(reference_step(pipeline["micro-batched"])["triton"]["avg_batch"]))
        self.report["perf_analyzer"] = self.perf_analyzer(sorted({1, worker_batch}))
        self.report["summary"] = summarise_report(self.report)
        return self.report


def curve_catalog(base: list[dict], size: int) -> list[dict]:
    """`size` labels: the sample catalog's first ones (both tasks, the no-complaint label kept), then made-up labels
    of both tasks whose keywords no call contains, so that every call ranks every one of them."""
    kept = [l for l in base if not l["keywords"]]
    kept += [l for l in base if l["keywords"]][: max(0, size - len(kept))]
    extra = [{"label_id": f"{task}.bench_{i:05d}", "task": task, "name": f"测试{'产品' if task == 'product' else '投诉'}{i:05d}",
              "description": f"压力测试用的第{i}个标签，与真实业务无关。", "keywords": [f"测试词{i:05d}"], "active": True,
              "alert": False, "updated_at": 0}
             for i, task in zip(range(max(0, size - len(kept))), ["product", "complaint"] * size)]
    return kept + extra


def python_lcs_length(a: str, b: str) -> int:
    """The textbook O(len(a)·len(b)) dynamic programme, one row at a time: the baseline rapidfuzz is measured against."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for ca in a:
        current = [0]
        for j, cb in enumerate(b):
            current.append(previous[j] + 1 if ca == cb else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


# --- past calls: back-fill and search over stored call vectors --------------------------------------------------------

PAST_DEFAULT_DIM = 512  # bge-small's vector size, where the model folder does not say
PAST_TASK, PAST_MODEL_VERSION, PAST_DAYS = "complaint", "bench", 30
PAST_CENTRES = 50  # the synthetic calls are clustered: 50 topics, each call its centre plus noise
PAST_TARGETS = {"backfill_max_s": 60, "search_p95_ms": 300}  # the issue's
PAST_RECALL_QUERIES = 20  # searches also answered exactly (no index), for recall@20
PAST_CHUNK = 10_000


def model_vector_dim(model_dir: Path | None) -> int | None:
    """The size of the vectors a model folder's model makes: its Projection's last layer (training/modules.py)."""
    try:
        for entry in json.loads((model_dir / "modules.json").read_text(encoding="utf-8")):
            if entry["type"] == "Projection":
                return int(json.loads((model_dir / entry["path"] / "config.json").read_text(encoding="utf-8"))["dims"][-1])
    except (OSError, TypeError, ValueError, KeyError, IndexError):
        pass
    return None


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _near(rng: np.random.Generator, centres: np.ndarray, noise: float) -> np.ndarray:
    """Unit vectors `noise` away from each centre, in a random direction: cosine with it about 1/sqrt(1 + noise²)."""
    return _unit(centres + noise * _unit(rng.standard_normal(centres.shape)))


def past_calls_bench(calls: int, dim: int, searches: int, progress=lambda what: None, url: str | None = None,
                     seed: int = 13, index_first: bool = False) -> dict:
    """Back-fill and search over `calls` stored call vectors of `dim` dimensions (streams/qadb/queries.py), in a
    throwaway PostgreSQL with pgvector (or, given `url`, a database of its own on that server, dropped after).
    `index_first`: load into the indexed table, as the sink does, rather than build the index after the load."""
    import shutil
    import tempfile

    import psycopg
    from psycopg.conninfo import make_conninfo

    from streams.qadb.migrate import migrate
    from streams.qadb.store import connect
    from streams.tools.database import PostgresServer
    from streams.tools.stack import free_port

    server = folder = None
    name = f"bench_past_{uuid.uuid4().hex[:8]}"
    try:
        if url is None:
            # Not under a private temporary folder: as root the server runs as a user of its own (tests/conftest.py).
            folder = Path(tempfile.mkdtemp(prefix="callqa-bench-pg-"))
            folder.chmod(0o755)
            progress("starting a throwaway PostgreSQL")
            server = PostgresServer(folder / "data", port=free_port(), durable=False).start()
            url = server.url("postgres")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with connect(make_conninfo(url, dbname=name)) as conn:
                migrate(conn)
                return _past_calls(conn, calls, dim, searches, progress, seed, index_first)
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if server is not None:
            server.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _past_calls(conn, calls: int, dim: int, searches: int, progress, seed: int, index_first: bool) -> dict:
    from datetime import datetime, timedelta, timezone

    from streams.qadb import queries, store

    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((PAST_CENTRES, dim)))
    labels = _near(rng, centres, 0.5)  # the catalog's labels: each about 0.89 from its topic's centre
    label_ids = [f"{PAST_TASK}.bench_{k:02d}" for k in range(PAST_CENTRES)]
    now = datetime.now(timezone.utc)

    # Loading: the HNSW index is built after the rows are in rather than kept up to date row by row while COPY runs
    # (index_first): at 20,000 vectors of 256 dimensions on two cores, 5 s COPY + 5 s build against 38 s, and the
    # gap grows with the table. ensure_vector_dim makes the column and its index as the sink does; the index is
    # dropped and made again from its own definition.
    with conn.transaction():
        store.ensure_vector_dim(conn, dim)
        index_def = conn.execute("SELECT pg_get_indexdef('call_vectors_hnsw'::regclass)").fetchone()[0]
        if not index_first:
            conn.execute("DROP INDEX call_vectors_hnsw")
    t0 = time.perf_counter()
    row_text = "[" + ",".join(["%.6g"] * dim) + "]"  # store.vector_text's form, formatted a row at a time
    timings = orjson.dumps({"queue": 1, "inference": 20.0, "end_to_end": 40}).decode()
    with conn.cursor() as cur:
        for start in range(0, calls, PAST_CHUNK):
            n = min(PAST_CHUNK, calls - start)
            topic = rng.integers(0, PAST_CENTRES, n)
            vectors = _near(rng, centres[topic], 0.8).astype(np.float32)  # about 0.78 from its centre
            scores = vectors @ labels.T.astype(np.float32)
            top = np.argsort(-scores, axis=1)[:, :3]
            ages = rng.uniform(0, PAST_DAYS * 86400 - 600, n)
            with cur.copy("COPY call_vectors (call_id, task, model_version, vector, produced_at, user_id, snippet, "
                          "template_version, call_time, kafka_partition, kafka_offset) FROM STDIN") as copy:
                for i in range(n):
                    at = now - timedelta(seconds=float(ages[i]))
                    copy.write_row((f"past-{start + i:07d}", PAST_TASK, PAST_MODEL_VERSION,
                                    row_text % tuple(vectors[i].tolist()), at, f"u-{(start + i) % 997:05d}",
                                    f"第{topic[i]}类话题的通话 {start + i}", "ctx-v1", at, 0, start + i))
            with cur.copy("COPY attributions (idempotency_key, call_id, user_id, task, final, label_id, label_name, "
                          "score, margin, top_k, candidates, candidate_source, account_known, segment_count, "
                          "model_version, template_version, timings_ms, produced_at, current, kafka_partition, "
                          "kafka_offset) FROM STDIN") as copy:
                for i in range(n):
                    call_id, at = f"past-{start + i:07d}", now - timedelta(seconds=float(ages[i]))
                    best = [(label_ids[k], round(float(scores[i, k]), 6)) for k in top[i]]
                    top_k = orjson.dumps([{"label_id": l, "name": l, "score": s} for l, s in best]).decode()
                    copy.write_row((f"{call_id}:{PAST_TASK}:final:{PAST_MODEL_VERSION}", call_id,
                                    f"u-{(start + i) % 997:05d}", PAST_TASK, True, best[0][0], best[0][0], best[0][1],
                                    round(best[0][1] - best[1][1], 6), top_k, PAST_CENTRES, "all", True, 12,
                                    PAST_MODEL_VERSION, "ctx-v1", timings, at, True, 0, start + i))
            done = start + n
            log.info("past calls: %d/%d stored (%.0f s)", done, calls, time.perf_counter() - t0)
            progress(f"past calls: {done:,}/{calls:,} stored")
    load_s, index_s = time.perf_counter() - t0, 0.0
    if not index_first:
        progress("past calls: building the HNSW index")
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")  # the whole graph in memory while it is built
        conn.execute(index_def)
        index_s = time.perf_counter() - t0
        conn.execute("RESET maintenance_work_mem")
    conn.execute("ANALYZE call_vectors")
    conn.execute("ANALYZE attributions")
    sizes = conn.execute("SELECT pg_total_relation_size('call_vectors'), pg_relation_size('call_vectors_hnsw')").fetchone()

    # Back-fill: one label worded close to a topic (it beats that topic's own label on most of its calls), two
    # that match nothing in particular.
    new_labels = [("near", _near(rng, centres[:1], 0.15)[0]), ("random-1", _unit(rng.standard_normal(dim))),
                  ("random-2", _unit(rng.standard_normal(dim)))]
    backfills = []
    for tag, vector in new_labels:
        progress(f"past calls: back-filling a new label ({tag})")
        t0 = time.perf_counter()
        done = queries.backfill(conn, f"{PAST_TASK}.bench_new_{tag}", PAST_TASK, f"bench label {tag}", vector,
                                PAST_MODEL_VERSION, PAST_DAYS, now=now)
        backfills.append({"label": tag, "seconds": round(time.perf_counter() - t0, 3), "scored": done.calls_scored,
                          "matched": done.calls_matched})

    # Search: sentences near a random topic's centre, the 20 nearest calls by HNSW; some also answered exactly.
    progress(f"past calls: {searches} searches")
    wanted = _near(rng, centres[rng.integers(0, PAST_CENTRES, searches)], 0.3)
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN " + queries.SEARCH, {"vector": store.vector_text(wanted[0]), "model_version": PAST_MODEL_VERSION,
                                      "task": None, "limit": 40}).fetchall())
    latency_ms, recalls = [], []
    for i, query in enumerate(wanted):
        t0 = time.perf_counter()
        found = queries.search(conn, query, PAST_MODEL_VERSION, limit=20)
        latency_ms.append(1000 * (time.perf_counter() - t0))
        if i < PAST_RECALL_QUERIES:
            with conn.transaction():
                conn.execute("SET LOCAL enable_indexscan = off")
                exact = [r[0] for r in conn.execute(
                    "SELECT call_id FROM call_vectors WHERE model_version = %s ORDER BY vector <=> %s::vector LIMIT 20",
                    (PAST_MODEL_VERSION, store.vector_text(query))).fetchall()]
            recalls.append(len({f["call_id"] for f in found} & set(exact)) / max(1, len(exact)))
    p50, p95 = np.percentile(latency_ms, [50, 95])
    result = {"calls": calls, "dim": dim, "centres": PAST_CENTRES, "load_s": round(load_s, 2),
              "index_built": "before the load" if index_first else "after the load",
              "index": "hnsw" if "call_vectors_hnsw" in plan else "none (sequential scan)", "index_s": round(index_s, 2),
              "table_mb": round(sizes[0] / 2**20, 1), "index_mb": round(sizes[1] / 2**20, 1),
              "backfills": backfills, "backfill_s": [b["seconds"] for b in backfills],
              "backfill_max_s": max(b["seconds"] for b in backfills),
              "backfill_scored": [b["scored"] for b in backfills], "backfill_matched": [b["matched"] for b in backfills],
              "searches": searches, "search_ms": {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
                                                  "max": round(max(latency_ms), 1)},
              "recall_at_20": round(statistics.mean(recalls), 3), "recall_queries": len(recalls),
              "targets": PAST_TARGETS}
    log.info("past calls: %d vectors of %d dimensions stored in %.1f s, HNSW index in %.1f s; back-fill max %.2f s "
             "(target %d s), matched %s; search p50 %.1f / p95 %.1f ms (target %d ms), recall@20 %.3f", calls, dim,
             load_s, index_s, result["backfill_max_s"], PAST_TARGETS["backfill_max_s"], result["backfill_matched"],
             result["search_ms"]["p50"], result["search_ms"]["p95"], PAST_TARGETS["search_p95_ms"],
             result["recall_at_20"])
    return result


def perf_analyzer_binary(home: Path = HOME) -> tuple[Path, dict]:
    """perf_analyzer from the tritonclient wheel (PyPI), fetched once, with the two libraries it links."""
    import sysconfig
    import zipfile

    tools = home / "tools" / "perf_analyzer"
    binary, libs = tools / "perf_analyzer", tools / "lib"
    if not binary.exists():
        tools.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--platform", "manylinux1_x86_64", "-d", str(tools), PERF_ANALYZER_WHEEL], check=True)
        wheel = next(tools.glob("tritonclient-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            member = next(n for n in z.namelist() if n.endswith("/bin/perf_analyzer"))
            binary.write_bytes(z.read(member))
        binary.chmod(0o755)
        wheel.unlink()
    pytriton_libs = Path(sysconfig.get_paths()["purelib"]) / "nvidia_pytriton.libs"
    libs.mkdir(exist_ok=True)
    for soname, prefix in (("libb64.so.0d", "libb64-"), ("libcudart.so.12", "libcudart-")):
        link = libs / soname
        if not link.exists():
            link.symlink_to(next(pytriton_libs.glob(f"{prefix}*")))
    return binary, {**os.environ, "LD_LIBRARY_PATH": f"{libs}:{pytriton_libs}:{os.environ.get('LD_LIBRARY_PATH', '')}"}


def run_local(config: BenchConfig, model_dir: Path, out: Path, data_dir: Path | None, triton_url: str | None = None,
              progress=lambda what: None) -> dict[str, Path]:
    """A broker of its own (empty, on free ports) and, unless `triton_url` names one, a Triton serving triton_repo/."""
    import shutil

    from streams.tools.stack import KafkaBroker, TritonServer, free_port
    from training.export import REPO_DIR

    shutil.rmtree(out / "kafka", ignore_errors=True)
    started, pids = [], {}
    try:
        progress("starting Kafka")
        broker = KafkaBroker(out / "kafka", port=free_port(), heap_mb=1024).start()
        started.append(broker)
        pids["kafka"] = broker.process.proc.pid
        if not triton_url:
            progress("starting Triton")
            triton = TritonServer(REPO_DIR, out / "logs", http_port=free_port(), grpc_port=free_port(), metrics_port=free_port()).start()
            started.append(triton)
            triton_url, pids["triton"] = triton.grpc_url, triton.process.proc.pid
        bench = Bench(config, broker.bootstrap, triton_url, model_dir, out / "work", data_dir, watch_pids=pids)
        try:
            report = bench.run(progress)
        finally:
            bench.monitor.close()
        return write_outputs(report, out)
    finally:
        for part in reversed(started):
            part.stop()
