"""The synthetic call sample: schema-valid, complete, time-ordered, deterministic and not keyword-trivial."""
import json
from collections import defaultdict
from pathlib import Path

import fastjsonschema
import pytest

from streams.tools.sample.generate import LABELS, write_sample

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
FILES = {"catalog.jsonl": "label", "rules.jsonl": "rule", "accounts.jsonl": "account", "human_labels.jsonl": "human_label"}
CALLS = 60


def _validator(name: str):
    return fastjsonschema.compile(json.loads((SCHEMAS / f"{name}.v1.json").read_text(encoding="utf-8")))


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    counts = write_sample(out, calls=CALLS, seed=7)
    return out, counts


def test_counts_match_file_lines(sample):
    out, counts = sample
    assert set(counts) == {"catalog.jsonl", "rules.jsonl", "accounts.jsonl", "transcript.jsonl", "human_labels.jsonl",
                           "truth.jsonl"}
    for name, count in counts.items():
        assert len((out / name).read_text(encoding="utf-8").splitlines()) == count, name
    assert counts["truth.jsonl"] == CALLS
    assert counts["human_labels.jsonl"] == round(CALLS * 0.2)


def test_every_record_matches_its_schema(sample):
    out, _ = sample
    for name, schema in FILES.items():
        validate = _validator(schema)
        for record in _read(out / name):
            validate(record)
    by_type = {t: _validator(t) for t in ("call_start", "segment", "call_end")}
    for event in _read(out / "transcript.jsonl"):
        by_type[event["type"]](event)


def test_calls_are_complete_and_time_ordered(sample):
    out, _ = sample
    events = _read(out / "transcript.jsonl")
    times = [e["event_time"] for e in events]
    assert times == sorted(times)
    per_call = defaultdict(list)
    for event in events:
        per_call[event["call_id"]].append(event)
    truth = {t["call_id"]: t for t in _read(out / "truth.jsonl")}
    assert set(per_call) == set(truth)
    for call_id, call in per_call.items():
        assert call[0]["type"] == "call_start" and call[-1]["type"] == "call_end"
        segments = [e for e in call if e["type"] == "segment"]
        assert len(call) == len(segments) + 2
        assert [s["seq"] for s in segments] == list(range(len(segments)))
        assert 8 <= len(segments) <= 30
        assert call[-1]["segment_count"] == len(segments)
        assert all(e["user_id"] == truth[call_id]["user_id"] for e in call)
        for s in segments:
            assert 0 <= s["start_ms"] < s["end_ms"]
            assert s["event_time"] == call[0]["event_time"] + s["end_ms"]
        assert call[-1]["event_time"] > segments[-1]["event_time"]


def test_labels_and_ground_truth(sample):
    out, _ = sample
    catalog = {l["label_id"]: l for l in _read(out / "catalog.jsonl")}
    assert [l["label_id"] for l in LABELS] == list(catalog)
    none = catalog["complaint.none"]
    assert none["task"] == "complaint" and none["keywords"] == [] and none["alert"] is False
    for label in catalog.values():
        if label["task"] == "complaint" and label["label_id"] != "complaint.none":
            assert label["alert"] is True and 3 <= len(label["keywords"]) <= 6
        assert label["active"] is True
    for row in _read(out / "truth.jsonl"):
        assert catalog[row["product"]]["task"] == "product"
        assert catalog[row["complaint"]]["task"] == "complaint"
    truth = {t["call_id"]: t for t in _read(out / "truth.jsonl")}
    for human in _read(out / "human_labels.jsonl"):
        assert human["labels"] == {"product": truth[human["call_id"]]["product"],
                                   "complaint": truth[human["call_id"]]["complaint"]}
        assert human["summary"]


def test_some_calls_avoid_their_product_keywords(sample):
    out, _ = sample
    keywords = {l["label_id"]: l["keywords"] for l in LABELS}
    customer_text = defaultdict(str)
    for event in _read(out / "transcript.jsonl"):
        if event["type"] == "segment" and event["speaker"] == "customer":
            customer_text[event["call_id"]] += event["text"]
    truth = _read(out / "truth.jsonl")
    hidden = [t for t in truth if not any(k in customer_text[t["call_id"]] for k in keywords[t["product"]])]
    assert hidden


def test_deterministic_per_seed(sample, tmp_path):
    out, _ = sample
    write_sample(tmp_path / "same", calls=CALLS, seed=7)
    write_sample(tmp_path / "other", calls=CALLS, seed=8)
    for name in ("catalog.jsonl", "accounts.jsonl", "transcript.jsonl", "human_labels.jsonl", "truth.jsonl"):
        assert (tmp_path / "same" / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "other" / "transcript.jsonl").read_bytes() != (out / "transcript.jsonl").read_bytes()
    ours = {t["call_id"] for t in _read(out / "truth.jsonl")}
    assert ours.isdisjoint(t["call_id"] for t in _read(tmp_path / "other" / "truth.jsonl"))
