"""The bench's past-calls part on a real PostgreSQL (the session's, tests/conftest.py), small: every figure is
there, the search finds what an exact search finds and a label worded near a topic wins calls. No timed
assertions: the figures are the bench's (`callqa bench`)."""
from __future__ import annotations

import psycopg

from streams.tools.bench.run import PAST_TARGETS, past_calls_bench


def test_past_calls_bench_reports_backfill_and_search(postgres):
    result = past_calls_bench(500, 16, 10, url=postgres[0])

    assert result["calls"] == 500 and result["dim"] == 16 and result["searches"] == 10
    assert result["index"] == "hnsw", "the search must run on the HNSW index"
    assert result["load_s"] >= 0 and result["index_s"] >= 0
    assert len(result["backfill_s"]) == len(result["backfill_matched"]) == 3
    assert result["backfill_max_s"] == max(result["backfill_s"])
    assert result["backfill_scored"] == [500, 500, 500]  # every call is of the last 30 days
    assert result["backfill_matched"][0] > 0, "the label worded near a topic beats its calls' own label"
    assert set(result["search_ms"]) == {"p50", "p95", "max"}
    assert result["search_ms"]["p50"] <= result["search_ms"]["p95"] <= result["search_ms"]["max"]
    assert result["recall_queries"] == 10 and result["recall_at_20"] >= 0.8
    assert result["targets"] == PAST_TARGETS == {"backfill_max_s": 60, "search_p95_ms": 300}
    with psycopg.connect(postgres[0]) as conn:  # its database is dropped afterwards
        assert not conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench_past_%'").fetchall()


def test_past_calls_bench_index_first(postgres):
    """Loading into the indexed table, as the sink does: the same figures, no index built afterwards."""
    result = past_calls_bench(300, 8, 5, url=postgres[0], index_first=True)

    assert result["index_built"] == "before the load" and result["index_s"] == 0
    assert result["index"] == "hnsw" and result["backfill_scored"] == [300, 300, 300]


def test_the_report_shows_past_calls():
    from streams.tools.bench.report import markdown

    past = {"calls": 100_000, "dim": 256, "centres": 50, "load_s": 20.0, "index_s": 30.0, "backfill_s": [1.5, 1.2, 1.1],
            "backfill_max_s": 1.5, "backfill_matched": [1900, 0, 0], "search_ms": {"p50": 3.0, "p95": 5.0, "max": 9.0},
            "recall_at_20": 0.97, "targets": PAST_TARGETS}
    rules = {"phrases": 10, "segments": 5, "build_ms": 1, "segments_with_a_hit": 1, "same_hits": True,
             "automaton_ms_per_segment": 0.01, "loop_ms_per_segment": 0.1, "ratio": 10}
    table = markdown({"rules": rules, "past": past})
    assert "Past calls, 100,000 stored vectors of 256 dimensions" in table
    assert "1.5 / 1.2 / 1.1 s (target ≤ 60 s" in table and "p95 5.0 ms (target ≤ 300 ms)" in table
