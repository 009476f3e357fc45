"""`callqa bench` in its smoke profile on the real broker and Triton: every part runs and reports (figures unchecked:
no timed assertions; the full run is `callqa bench`)."""
from __future__ import annotations

import pytest

from streams.tools.bench.report import write_outputs
from streams.tools.bench.run import SMOKE, Bench

pytestmark = pytest.mark.integration


def test_bench_smoke(kafka_bootstrap, triton_url, tiny_model, tmp_path):
    bench = Bench(SMOKE, kafka_bootstrap, triton_url, tiny_model, tmp_path / "work")
    try:
        report = bench.run()
    finally:
        bench.monitor.close()
    paths = write_outputs(report, tmp_path / "out")

    assert report["lcs"]["same_summaries"], "rapidfuzz and the Python DP must pick the same sentences"
    assert report["rules"]["same_hits"] and report["rules"]["phrases"] == SMOKE.rule_phrases  # automaton = loop
    curves = report["curves"]
    assert [p["labels"] for p in curves["catalog"]] == list(SMOKE.curve_catalog_sizes)
    assert [p["open_calls"] for p in curves["open_calls"]] == list(SMOKE.curve_open_calls)
    assert all(p["completed"] == p["calls"] and p["worker_cpu_ms_per_call"] > 0
               for p in curves["catalog"] + curves["open_calls"])
    assert report["ingestion"]["complete"] and report["ingestion"]["segments"] > 0
    for mode in SMOKE.modes:
        ladder = report["pipeline"][mode]
        for step in ladder["steps"]:
            assert step["completed"] == step["calls"], f"{mode}: every offered call gets both final attributions"
            assert step["processes"]["worker"]["cpu_s"] > 0
    batched, one_request = report["pipeline"]["micro-batched"], report["pipeline"]["one-request"]
    assert one_request["steps"][0]["triton"]["avg_batch"] <= 2  # one text per request (two tasks may be merged)
    live = report["live"]["levels"][0]
    assert live["completed"] == live["calls"] and live["records_held"] > 0  # calls at (sped-up) real pace, all final
    assert "pipeline_efficiency" in report["summary"]["vs_one-in-flight"]  # the batches-in-flight baseline
    assert report["pipeline"]["in-process"]["steps"][0]["triton"]["inferences"] == 0  # no Triton on that path
    assert {r["batch"] for r in report["perf_analyzer"]} >= {1} and all(r["inferences_per_s"] > 0 for r in report["perf_analyzer"])
    assert "pipeline_efficiency" in report["summary"] and batched["steps"][0]["inferences_per_call"] > 0
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| micro-batched |" in paths["table"].read_text(encoding="utf-8")
