"""The live pipeline end to end on the real broker and the real Triton server, with a worker as its own process."""
from __future__ import annotations

import base64
import dataclasses
import shutil
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from streams.core.codec import validator
from streams.core.settings import Settings
from streams.tools.reconcile import reconcile
from streams.tools.replay import key_of, producer, publish, replay
from support import Run, extra_calls, finals_by_call, read_all, table_size, wait_until

pytestmark = pytest.mark.integration
NEW_LABEL = {"label_id": "product.iot_card", "task": "product", "name": "物联网卡", "description": "用户咨询物联网卡的开通、套餐和停复机。",
             "keywords": ["物联网卡"], "active": True, "updated_at": 1767225600000}
NEW_RULE = {"rule_id": "rule.count_cards", "name": "测试禁语", "kind": "forbidden", "phrases": ["需要多少张"], "weight": 10,
            "severity": "major", "active": True, "updated_at": 1767225600000}  # said by the agent in extra_calls
BAD_RECORDS = {  # raw bytes -> the dead-letter reason they must end with
    b'{"type": "segment", "call_id": ': "invalid_json",
    b'\xff\xfe{"type": "segment"}': "invalid_utf8",
    orjson.dumps({"type": "segment", "call_id": "call-x", "user_id": "u-1", "seq": "one"}): "schema",
    orjson.dumps({"type": "segment", "call_id": "call-never-started", "user_id": "u-1", "seq": 0, "speaker": "customer",
                  "text": "你好", "start_ms": 0, "end_ms": 500, "event_time": 1767225600000}): "unknown_call",
}


def test_pipeline_end_to_end(kafka_bootstrap, triton_url, triton_repo, tiny_model, sample_dir, tmp_path):
    run = Run.create(kafka_bootstrap, triton_url, tmp_path, CALLQA_PROVISIONAL_EVERY="6")
    settings = run.settings
    worker = run.worker("test-worker").start()
    try:
        for event, name in (("label", "catalog"), ("rule", "rules"), ("account", "accounts"), ("human_label", "human_labels")):
            publish(settings, event, sample_dir / f"{name}.jsonl")
        sent = replay(settings, sample_dir / "transcript.jsonl", rate=0)
        out = producer(settings)
        for raw in BAD_RECORDS:
            # keyed as the replay keys them (a key that is not the call id would be key_mismatch)
            out.produce(settings.topic("transcript"), value=raw, key=key_of(raw, "call_id"))
        out.flush(10)
        truth = [orjson.loads(line) for line in (sample_dir / "truth.jsonl").read_bytes().splitlines()]
        assert len(truth) >= 200
        attributions = read_all(settings, "attribution", lambda r: len(finals_by_call(r)) >= len(truth)
                                and all(len(t) == 2 for t in finals_by_call(r).values()), timeout_s=600)
        finals = finals_by_call(attributions)

        # A label added to the catalog and a rule added mid-run are used for the next call, with no restart.
        (tmp_path / "label.jsonl").write_bytes(orjson.dumps(NEW_LABEL) + b"\n")
        publish(settings, "label", tmp_path / "label.jsonl")
        rules_before = table_size(settings, "rules")
        (tmp_path / "rule.jsonl").write_bytes(orjson.dumps(NEW_RULE) + b"\n")
        publish(settings, "rule", tmp_path / "rule.jsonl")
        wait_until(lambda: table_size(settings, "rules") > rules_before, "the new rule in the table", 10)
        time.sleep(1.5)  # the catalog update is in flight on another topic; the rule book is looked at every second
        sent += replay(settings, extra_calls(tmp_path / "iot.jsonl", 3), rate=0)
        attributions = read_all(settings, "attribution", lambda r: all(
            "product" in finals_by_call(r).get(f"call-iot-{i}", {}) for i in range(3)), timeout_s=120)
        finals = finals_by_call(attributions)

        # The retrain closes the loop: pseudo-labels -> transfer + fine-tune -> a new version the worker then uses.
        labelled = {orjson.loads(l)["call_id"] for l in (sample_dir / "human_labels.jsonl").read_bytes().splitlines()}
        expected_pseudo = {c for c in finals if c not in labelled}
        pseudo = read_all(settings, "pseudo_label", lambda r: len(r) >= len(expected_pseudo), timeout_s=60)
        retrained = retrain_twice(settings, triton_repo, tiny_model, sample_dir, tmp_path / "models")
        # ... and a rule deleted (a tombstone) is not used for the next call.
        out = producer(settings)
        out.produce(settings.topic("rule"), value=None, key=NEW_RULE["rule_id"].encode())
        out.flush(10)
        wait_until(lambda: table_size(settings, "rules") > rules_before + 1, "the rule deleted from the table", 10)
        time.sleep(1.5)
        sent += replay(settings, extra_calls(tmp_path / "after.jsonl", 2, prefix="call-after"), rate=0)
        after = finals_by_call(read_all(settings, "attribution", lambda r: all(
            len(finals_by_call(r).get(f"call-after-{i}", {})) == 2 for i in range(2)), timeout_s=120))
    finally:
        worker.stop()

    # A worse model changes nothing; a promoted one is loaded by Triton and used (label vectors recomputed).
    refused, promoted = retrained
    assert refused["promoted"] is False and refused["reason"] == "worse on the validation splits"
    assert promoted["promoted"] is True and promoted["pseudo_records"] == len(expected_pseudo)
    assert {a["model_version"] for a in finals["call-iot-0"].values()} == {"1"}
    assert all(a["model_version"] == str(promoted["version"]) for i in range(2) for a in after[f"call-after-{i}"].values())
    finals |= {k: v for k, v in after.items()}

    # Every call gets a final attribution for both tasks, valid against its schema, from one model version.
    assert {t["call_id"] for t in truth} <= set(finals)
    for tasks in finals.values():
        for a in tasks.values():
            validator("attribution")(a)
    assert all(finals[f"call-iot-{i}"]["product"]["label_id"] == NEW_LABEL["label_id"] for i in range(3))

    # Provisional updates arrive before the final one (same key, same partition, lower offset).
    offsets = defaultdict(lambda: {"provisional": [], "final": []})
    for partition, offset, value in attributions:
        a = orjson.loads(value)
        offsets[(a["call_id"], a["task"])]["final" if a["final"] else "provisional"].append(offset)
    with_provisional = [k for k, v in offsets.items() if v["provisional"]]
    assert len(with_provisional) > len(truth)  # most calls have more than 6 segments
    assert all(max(offsets[k]["provisional"]) < min(offsets[k]["final"]) for k in with_provisional)

    # Calls without a human label get a pseudo-label with an LCS summary; labelled calls do not.
    pseudo_calls = {orjson.loads(v)["call_id"] for _, _, v in pseudo}
    assert pseudo_calls == expected_pseudo
    for _, _, value in pseudo[:20]:
        record = validator("pseudo_label")(orjson.loads(value))
        assert record["summary_sentences"] and all(s in record["context_text"] for s in record["summary_sentences"])

    # Bad input ends in the dead-letter topic with its original bytes and the reason; processing went on.
    dead = [validator("dead_letter")(orjson.loads(v)) for _, _, v in
            read_all(settings, "dead_letter", lambda r: len(r) >= len(BAD_RECORDS), timeout_s=60)]
    by_bytes = {base64.b64decode(d["value_b64"]): d for d in dead}
    for raw, reason in BAD_RECORDS.items():
        assert by_bytes[raw]["reason"] == reason and by_bytes[raw]["source_topic"] == settings.topic("transcript")

    # Every finished call has its scorecard; the agent's forbidden phrases alerted as they were said.
    scorecards = {}
    for _, _, value in read_all(settings, "scorecard", lambda r: {orjson.loads(v)["call_id"] for _, _, v in r} >= set(finals),
                                timeout_s=60):
        card = validator("scorecard")(orjson.loads(value))
        scorecards[card["call_id"]] = card
    assert set(scorecards) == set(finals)
    rules = [orjson.loads(line) for line in (sample_dir / "rules.jsonl").read_bytes().splitlines()]
    forbidden = {r["rule_id"]: r["phrases"] for r in rules if r["kind"] == "forbidden"}
    expected = {(e["call_id"], rule_id, e["seq"]) for e in map(orjson.loads, (sample_dir / "transcript.jsonl").read_bytes().splitlines())
                if e["type"] == "segment" and e["speaker"] == "agent"
                for rule_id, phrases in forbidden.items() if any(p in e["text"] for p in phrases)}
    expected |= {(f"call-iot-{i}", NEW_RULE["rule_id"], 1) for i in range(3)}

    def said(records) -> set:
        return {(a["call_id"], a["rule_id"], a["seq"]) for a in (orjson.loads(v) for _, _, v in records)
                if a["kind"] == "forbidden_phrase"}

    assert len(expected) >= 5 and said(read_all(settings, "alert", lambda r: said(r) >= expected, timeout_s=60)) == expected
    for call_id, rule_id, _ in expected:
        assert {r["rule_id"]: r["outcome"] for r in scorecards[call_id]["rules"]}[rule_id] == "fail"
    assert all(scorecards[c]["critical_failed"] and scorecards[c]["score"] == 0 for c, r, _ in expected if r == "rule.forbidden_words")
    assert NEW_RULE["rule_id"] not in {r["rule_id"] for i in range(2) for r in scorecards[f"call-after-{i}"]["rules"]}
    outcomes = defaultdict(set)
    for card in scorecards.values():
        for r in card["rules"]:
            outcomes[r["rule_id"]].add(r["outcome"])
    assert {"pass", "fail"} <= outcomes["rule.greeting"] and {"pass", "fail"} <= outcomes["rule.overlap"]

    # Nothing lost: every transcript event is part of a final attribution (start + segments + end) or a dead letter.
    transcript_dead = sum(1 for d in dead if d["source_topic"] == settings.topic("transcript"))
    accounted = sum(tasks["product"]["segment_count"] + 2 for tasks in finals.values()) + transcript_dead
    assert accounted == sent + len(BAD_RECORDS)
    report = reconcile(settings)
    assert report.ok, report.gaps


def retrain_twice(settings: Settings, repo: Path, tiny_model: Path, sample_dir: Path, models: Path) -> tuple[dict, dict]:
    """First demanding a gain no model can make (refused: nothing changes), then accepting any result."""
    from training.export import ENCODER_DECODER, versions
    from training.retrain import RetrainConfig, read_new, retrain

    shutil.copytree(tiny_model, models / "default")
    config = RetrainConfig(models=str(models), sample_dir=str(sample_dir), quick=True, group=f"{settings.topic_prefix}-retrain")
    before = versions(repo, ENCODER_DECODER)
    refused = retrain(settings, dataclasses.replace(config, tolerance=-1.0), repo)
    assert versions(repo, ENCODER_DECODER) == before
    assert len(read_new(settings, "pseudo_label", config.group, 100000)[0]) == refused["pseudo_records"]  # not committed
    promoted = retrain(settings, dataclasses.replace(config, tolerance=1.0), repo)  # a tiny model: any result is fine here
    assert read_new(settings, "pseudo_label", config.group, 100000)[0] == []  # committed after promotion
    return refused, promoted
