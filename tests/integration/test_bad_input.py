"""The bad-input corpus: each kind ends where the README's table says (handled, or a dead letter with its reason),
the worker keeps going, and `callqa check` finds every input accounted for."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import unicodedata

import orjson
import pytest
from confluent_kafka import Producer

from streams.core.codec import validator
from streams.core.kafka import consumer_from_start, kafka_config
from streams.tools.reconcile import read_topic, reconcile
from streams.tools.replay import KEY_FIELD, UNREADABLE_KEY, key_of, producer
from streams.worker.steps.candidates import select_candidates
from support import Run, all_final, call_events, finals_by_call, read_all, table_size, wait_until

pytestmark = pytest.mark.integration
T0 = 1767230000000
NO_KEYWORDS = {"label_id": "product.other", "task": "product", "name": "其他业务", "description": "不属于其他产品的咨询。",
               "keywords": [], "active": True, "alert": False, "updated_at": T0}


ACCOUNT = {"user_id": "u-tomb", "balance_yuan": 12.5, "plan_name": "畅享套餐", "plan_fee_yuan": 58, "data_allowance": "30G",
           "updated_at": T0}
TOMB_LABEL = {"label_id": "product.tomb", "task": "product", "name": "将被删除", "description": "", "keywords": ["删除"],
              "active": True, "alert": False, "updated_at": T0}
READY = {"call_id": "bad-ready-0", "user_id": "u-00001", "final": False, "turns": [{"speaker": "customer", "text": "查话费"}],
         "segment_count": 1, "missing_seqs": [], "has_human_label": False, "trigger_ts": T0, "ready_ts": T0}
KEYS = {**KEY_FIELD, "call_ready": "user_id"}
RULE = {"rule_id": "rule.bad", "name": "测试禁语", "kind": "forbidden", "phrases": ["退.*款"], "weight": 10,
        "severity": "major", "active": True, "updated_at": T0}


def j(record: dict) -> bytes:
    return orjson.dumps(record)


def seg(call_id: str, seq: int, text: str = "我想查一下这个月的话费账单", **over) -> dict:
    return {"type": "segment", "call_id": call_id, "user_id": "u-00001", "seq": seq, "speaker": "customer", "text": text,
            "start_ms": seq * 3000, "end_ms": seq * 3000 + 2500, "event_time": T0 + seq * 3000, **over}


def start(call_id: str, user_id: str = "u-00001") -> dict:
    return {"type": "call_start", "call_id": call_id, "user_id": user_id, "event_time": T0}


def end(call_id: str, n: int, user_id: str = "u-00001") -> dict:
    return {"type": "call_end", "call_id": call_id, "user_id": user_id, "segment_count": n, "event_time": T0 + 60000}


def without(record: dict, field: str) -> dict:
    return {k: v for k, v in record.items() if k != field}


def ok(events: list[dict]) -> list[tuple[bytes, None]]:
    return [(j(e), None) for e in events]


# kind -> (topic event, [(value, dead-letter reason or None when handled[, key])]). Records of a kind are sent in
# order, each keyed as the replay keys it (call_id, user_id, ...; unkeyed when that cannot be read) unless it names
# its key (None: no key).
CORPUS = {
    "invalid JSON": ("transcript", [(b'{"type": "segment", "call_id": ', "invalid_json")]),
    "invalid UTF-8": ("transcript", [(b'\xff\xfe{"type": "segment"}', "invalid_utf8")]),
    "empty record": ("transcript", [(b"", "invalid_json")]),
    "tombstone (no value)": ("transcript", [(None, "invalid_json")]),
    "JSON that is not an object": ("transcript", [(b"[1, 2]", "schema")]),
    "unknown event type": ("transcript", [(j({**start("bad-type"), "type": "call_hold"}), "schema")]),
    "missing field": ("transcript", [(j(without(seg("bad-x", 0), "text")), "schema")]),
    "wrong type": ("transcript", [(j({**seg("bad-x", 0), "seq": "one"}), "schema")]),
    "unknown field": ("transcript", [(j(seg("bad-x", 0, emotion="angry")), "schema")]),
    "negative offset": ("transcript", [(j(seg("bad-x", 0, start_ms=-1)), "schema")]),
    "absurd offset": ("transcript", [(j(seg("bad-x", 0, end_ms=10**12)), "schema")]),
    "absurd sequence number": ("transcript", [(j(seg("bad-x", 10**9)), "schema")]),
    "1 MB text": ("transcript", [(j(seg("bad-x", 0, "话" * 330_000)), "schema")]),
    "empty text": ("transcript", [(j(seg("bad-x", 0, "")), "schema")]),
    "malformed call id": ("transcript", [(j(start("call 1; drop")), "schema")]),
    "end of an unknown call": ("transcript", [(j(end("bad-never-started", 3)), "unknown_call")]),
    "segment of an unknown call": ("transcript", [(j(seg("bad-never-started", 0)), "unknown_call")]),
    "call started twice, duplicate segment, segment after the end, second end": ("transcript", [
        (j(start("bad-dup")), None), (j(start("bad-dup")), "call_restarted"), (j(seg("bad-dup", 0)), None),
        (j(seg("bad-dup", 0, "重复的一句")), "duplicate_segment"), (j(seg("bad-dup", 1)), None), (j(end("bad-dup", 2)), None),
        (j(seg("bad-dup", 2)), "segment_after_end"), (j(end("bad-dup", 2)), "duplicate_end")]),
    "out-of-order segments": ("transcript", ok([start("bad-ooo"), seg("bad-ooo", 2, "第三句"), seg("bad-ooo", 0, "第一句"),
                                                seg("bad-ooo", 1, "第二句"), end("bad-ooo", 3)])),
    "missing segment": ("transcript", ok([start("bad-gap"), seg("bad-gap", 0), seg("bad-gap", 2), end("bad-gap", 3)])),
    "absurd segment count at the end": ("transcript", ok([start("bad-count"), seg("bad-count", 0), end("bad-count", 100_000)])),
    "call without segments": ("transcript", ok([start("bad-empty"), end("bad-empty", 0)])),
    "end time before start time": ("transcript", ok([start("bad-time"), seg("bad-time", 0, start_ms=9000, end_ms=1000),
                                                     end("bad-time", 1)])),
    "unknown user": ("transcript", ok([start("bad-user", "u-nobody"), seg("bad-user", 0, user_id="u-nobody"),
                                       end("bad-user", 1, "u-nobody")])),
    "personal data in the text": ("transcript", ok([start("bad-pii"), seg("bad-pii", 0, "我的手机号是13812345678，帮我查话费"),
                                                    end("bad-pii", 1)])),
    "account: invalid JSON": ("account", [(b'{"user_id": "u-bad", ', "invalid_json")]),
    "account: wrong type": ("account", [(j({"user_id": "u-bad", "balance_yuan": "二十元", "plan_name": "x", "plan_fee_yuan": 29,
                                            "data_allowance": "1G", "updated_at": T0}), "schema")]),
    "label: unknown task": ("label", [(j({**NO_KEYWORDS, "label_id": "sentiment.angry", "task": "sentiment"}), "schema")]),
    "catalog entry with no keywords": ("label", [(j(NO_KEYWORDS), None)]),
    "human label: missing call id": ("human_label", [(j({"event_time": T0}), "schema")]),
    "human label of an unknown call": ("human_label", [(j({"call_id": "bad-no-such-call", "event_time": T0}), None)]),
    # Issue 17: what the schemas accept but the code did not expect, and what a careful system refuses.
    "integers sent as floats (seq 1.0, segment_count 2.0, 1e0)": ("transcript", [
        (j({**start("bad-float"), "event_time": float(T0)}), None), (j(seg("bad-float", 0.0)), None),
        (j(seg("bad-float", 1.0, start_ms=3000.0)), None),
        (b'{"type":"segment","call_id":"bad-float","user_id":"u-00001","seq":1e0,"speaker":"customer","text":"x",'
         b'"start_ms":0,"end_ms":1,"event_time":0}', "duplicate_segment"), (j(end("bad-float", 2.0)), None)]),
    "numbers at their bounds": ("transcript", ok([start("bad-huge"), seg("bad-huge", 100_000, start_ms=86_400_000,
                                                    end_ms=86_400_000, event_time=4102444800000),
                                                  {**end("bad-huge", 100_000), "event_time": 4102444800000}])),
    "event type that is a list": ("transcript", [(j({**start("bad-list"), "type": ["call_start"]}), "schema")]),
    "duplicate key": ("transcript", [(j(start("bad-dupkey"))[:-1] + b',"call_id":"bad-dupkey-b"}', "duplicate_key")]),
    "key that is not the call id / no key / a 500 KB key": ("transcript", [
        (j(start("bad-keyx")), "key_mismatch", b"bad-other-call"), (j(start("bad-keyx")), "key_mismatch", None),
        (j(start("bad-keyx")), "key_mismatch", b"k" * 500_000)]),
    "segments of zero-width, control characters, emoji, whitespace only": ("transcript", ok([
        start("bad-nowords"), seg("bad-nowords", 0, "\u200b\u200d\ufeff"), seg("bad-nowords", 1, "\x07\x1b\x7f"),
        seg("bad-nowords", 2, "😀😡！？"), seg("bad-nowords", 3, " \t\u3000 "), end("bad-nowords", 4)])),
    "control, zero-width and full-width characters in the text": ("transcript", ok([
        start("bad-ctrl"), seg("bad-ctrl", 0, "我要投诉\x00\x1b话费\u200b扣错了，手机号１３８１２３４５６７８\u202e"),
        end("bad-ctrl", 1)])),
    "text NFKC makes longer than 4,000 characters": ("transcript", [(j(seg("bad-x", 0, "\ufdfa" * 300)), "schema")]),
    "astral-plane and combining characters": ("transcript", ok([
        start("bad-astral"), seg("bad-astral", 0, "𠀀𠀁😀" * 1000 + "e\u0301"), end("bad-astral", 1)])),
    "5 MB text, compressed by the producer (the broker takes it)": ("transcript", [
        (j(seg("bad-x", 0, "话费" * 850_000)), "schema")]),
    "a call past its size bound": ("transcript", [
        (j(start("bad-big")), None), (j(seg("bad-big", 0, "话" * 3000)), None), (j(seg("bad-big", 1, "费" * 3000)), None),
        (j(seg("bad-big", 2, "单" * 3000)), "call_too_large"), (j(end("bad-big", 3)), None)]),
    "account: float and bound numbers, control characters": ("account", [(j({
        "user_id": "u-bounds", "balance_yuan": 10_000_000, "plan_name": "畅享\x00套餐\u200b", "plan_fee_yuan": 0.0,
        "data_allowance": "30G\t", "updated_at": 4102444800000.0}), None)]),
    "account: duplicate key": ("account", [(b'{"user_id":"u-dupkey","user_id":"u-dupkey2","balance_yuan":1,'
                                            b'"plan_name":"p","plan_fee_yuan":1,"data_allowance":"1G","updated_at":0}',
                                            "duplicate_key", b"u-dupkey2")]),
    "account: key that is not the user id": ("account", [(j(ACCOUNT), "key_mismatch", b"u-someone-else")]),
    "account: tombstone": ("account", [(j(ACCOUNT), None), (None, None, ACCOUNT["user_id"].encode())]),
    "label: key that is not the label id": ("label", [(j({**NO_KEYWORDS, "label_id": "product.x"}), "key_mismatch", b"product.y")]),
    "label: keywords empty after normalisation": ("label", [(j({**TOMB_LABEL, "label_id": "product.zw", "active": False,
                                                               "keywords": ["\u200b"]}), None)]),
    "label: tombstone": ("label", [(j(TOMB_LABEL), None), (None, None, TOMB_LABEL["label_id"].encode())]),
    "human label: key that is not the call id": ("human_label", [(j({"call_id": "bad-hl", "event_time": T0}), "key_mismatch",
                                                                  b"bad-hl-other")]),
    "human label: tombstone": ("human_label", [(j({"call_id": "bad-hl-tomb", "event_time": T0}), None),
                                               (None, None, b"bad-hl-tomb")]),
    # Issue 15: the QA rules' topic.
    "rule: a task that does not exist": ("rule", [(j({**RULE, "rule_id": "rule.task", "applies_when": {
        "task": "weather", "label_ids": ["complaint.none"]}}), "unknown_task")]),
    "rule: an empty phrase": ("rule", [(j({**RULE, "rule_id": "rule.empty", "phrases": [""]}), "schema")]),
    "rule: a 10,000-character phrase": ("rule", [(j({**RULE, "rule_id": "rule.long", "phrases": ["话" * 10_000]}), "schema")]),
    "rule: a phrase empty after normalisation": ("rule", [(j({**RULE, "rule_id": "rule.zw", "phrases": ["\u200b"]}),
                                                          "rule_invalid")]),
    "rule: a required phrase without a position": ("rule", [(j({**RULE, "rule_id": "rule.nopos", "kind": "required"}),
                                                              "schema")]),
    "rule: a talk ratio over 1": ("rule", [(j({**RULE, "rule_id": "rule.ratio", "kind": "max_talk_ratio",
                                                "threshold": 1.5}), "schema")]),
    "rule: a regex-looking phrase, matched literally": ("rule", [(j(RULE), None)]),
    "rule: key that is not the rule id": ("rule", [(j(RULE), "key_mismatch", b"rule.other")]),
    "rule: tombstone": ("rule", [(j({**RULE, "rule_id": "rule.tomb"}), None), (None, None, b"rule.tomb")]),
    "call_ready (the worker's own topic): provisional, no turns, floats, 8,000-character turn": ("call_ready", [
        (j(READY), None), (j({**READY, "call_id": "bad-ready-1", "turns": [], "segment_count": 0.0}), None),
        (j({**READY, "call_id": "bad-ready-2", "turns": [{"speaker": "agent", "text": "话" * 8000}],
            "missing_seqs": [1.0, 2.0]}), None)]),
}


def send(settings, event: str, values: list, keys: list | None = None) -> list[tuple[int, int]]:
    """Produce in order; the (partition, offset) of each record, from the delivery reports. `keys`: each record's key,
    or ... for the key the replay would give it."""
    out = producer(settings)
    # Records over 1 MB go through a producer that compresses (gzip): the broker's limit is on the compressed batch.
    big = Producer({**kafka_config(settings), "partitioner": "murmur2_random", "compression.type": "gzip",
                    "message.max.bytes": 10_000_000})
    positions: dict[int, tuple[int, int]] = {}
    for i, value in enumerate(values):
        def delivered(err, msg, i=i):
            assert err is None, err
            positions[i] = (msg.partition(), msg.offset())
        key = keys[i] if keys is not None else ...
        if key is ...:
            key = key_of(value, KEYS[event]) if value else UNREADABLE_KEY
        via = big if value is not None and len(value) > 1_000_000 else out
        via.produce(settings.topic(event), value=value, key=key, on_delivery=delivered)
        via.poll(0)
    assert out.flush(30) == 0 and big.flush(30) == 0
    return [positions[i] for i in range(len(values))]


def changelog_last(settings, table: str, key: bytes):
    """The last changelog value of `key` in a worker table (None: a tombstone); faust writes keys as JSON."""
    topic = f"{settings.app_id}-{table}-changelog"
    consumer = consumer_from_start(settings, topic, "test")
    found, wanted = ..., {key, orjson.dumps(key.decode())}
    try:
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in consumer.assignment()}
        left, deadline = {p for p, e in ends.items() if e > 0}, time.monotonic() + 60
        while left and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.5):
                if m.error() is None and m.offset() < ends[m.partition()]:
                    if m.key() in wanted:
                        found = m.value()
                    if m.offset() >= ends[m.partition()] - 1:
                        left.discard(m.partition())
    finally:
        consumer.close()
    assert found is not ..., f"{key!r} never in {table}"
    return orjson.loads(found) if found is not None else None


def test_bad_input_corpus(kafka_bootstrap, triton_url, sample_dir, tmp_path):
    assert len(CORPUS) >= 20
    run = Run.create(kafka_bootstrap, triton_url, tmp_path, CALLQA_PROVISIONAL_EVERY="0", CALLQA_MAX_CALL_CHARS="8000",
                     CALLQA_RULES_REFRESH_S="0")  # the rule book is looked at for every segment: no wait before the calls
    settings = run.settings
    catalog = [orjson.loads(line) for line in (sample_dir / "catalog.jsonl").read_bytes().splitlines()]
    accounts = (sample_dir / "accounts.jsonl").read_bytes().splitlines()
    worker = run.worker().start()
    try:
        send(settings, "label", [j(label) for label in catalog])
        send(settings, "account", accounts)
        sent = {}  # kind -> [(topic, partition, offset, value, reason)]
        for event in ("label", "rule", "account", "human_label", "transcript", "call_ready"):
            for kind, (topic_event, records) in CORPUS.items():
                if topic_event == event:
                    positions = send(settings, event, [r[0] for r in records], [r[2] if len(r) > 2 else ... for r in records])
                    sent[kind] = [(settings.topic(event), p, o, r[0], r[1]) for (p, o), r in zip(positions, records)]
            if event == "account":  # the catalog and accounts are in their tables before any call is attributed
                wait_until(lambda: table_size(settings, "labels") >= len(catalog) + 4  # + no keywords, zw, tomb, its tombstone
                           and table_size(settings, "rules") >= 3  # the regex-looking rule, tomb, its tombstone
                           and table_size(settings, "accounts") >= len(accounts), "tables filled", 120)
        literal = call_events("bad-literal", "u-00001", ["我要退款", "退.*款是系统里的写法", "那就是退了款吗", "我给您退了款"], T0)
        send(settings, "transcript", [j(e) for e in literal])
        sentinel = call_events("bad-sentinel", "u-00001", ["您好", "我想办理宽带", "好的"], T0)
        send(settings, "transcript", [j(e) for e in sentinel])  # after everything else: the worker is still going

        calls = ({orjson.loads(v)["call_id"] for rs in sent.values() for t, _, _, v, r in rs
                  if t == settings.topic("transcript") and r is None} | {"bad-sentinel", "bad-literal"})
        provisional = {"bad-ready-0", "bad-ready-1", "bad-ready-2"}
        attributions = read_all(settings, "attribution", lambda rs: all_final(calls)(rs) and provisional <= {
            orjson.loads(v)["call_id"] for _, _, v in rs}, timeout_s=300)
        finals = finals_by_call(attributions)
        expected_dead = sum(1 for rs in sent.values() for *_, r in rs if r)
        dead = read_all(settings, "dead_letter", lambda r: len(r) >= expected_dead, timeout_s=60)
        alive = worker.proc.poll() is None
    finally:
        worker.stop()
    assert alive, "the worker stopped"
    assert set(calls) <= set(finals)

    # Each record ends where the table says: a dead letter with that reason at its position, or no dead letter.
    dead_at = {}
    for _, _, value in dead:
        record = validator("dead_letter")(orjson.loads(value))
        dead_at[(record["source_topic"], record["source_partition"], record["source_offset"])] = record
    outcome = {}
    for kind, records in sent.items():
        outcome[kind] = [dead_at[(t, p, o)]["reason"] if (t, p, o) in dead_at else None for t, p, o, _, _ in records]
        assert outcome[kind] == [r for *_, r in records], kind
    assert len(dead_at) == expected_dead
    huge = dead_at[sent["1 MB text"][0][:3]]  # the 1 MB text keeps its head
    assert base64.b64decode(huge["value_b64"]) == sent["1 MB text"][0][3][:settings.dead_letter_max_bytes]
    compressed = dead_at[sent["5 MB text, compressed by the producer (the broker takes it)"][0][:3]]
    assert compressed["value_bytes"] > 5_000_000 and compressed["reason"] == "schema"
    long_key = next(d for d in dead_at.values() if d["key_bytes"] == 500_000)  # and a 500 KB key its head
    assert base64.b64decode(long_key["key_b64"]) == b"k" * 16 * 1024

    # The handled kinds, each with its own outcome.
    assert finals["bad-dup"]["product"]["segment_count"] == 2
    assert finals["bad-ooo"]["product"]["segment_count"] == 3
    ready = {r["call_id"]: r for r in (orjson.loads(v) for _, _, v in read_topic(settings, "call_ready"))
             if r["final"]}
    assert [t["text"] for t in ready["bad-ooo"]["turns"]] == ["第一句", "第二句", "第三句"]
    assert ready["bad-gap"]["missing_seqs"] == [1] and finals["bad-gap"]["product"]["segment_count"] == 2
    assert len(ready["bad-count"]["missing_seqs"]) == 100  # listed up to a bound
    assert finals["bad-empty"]["product"]["segment_count"] == 0
    assert finals["bad-time"]["product"]["segment_count"] == 1
    assert finals["bad-user"]["product"]["account_known"] is False and finals["bad-pii"]["product"]["account_known"] is True
    active = [l for l in catalog + [NO_KEYWORDS] if l["active"]]
    candidates, _ = select_candidates(active, "product", "我想查一下这个月的话费账单")
    assert NO_KEYWORDS in candidates and finals["bad-user"]["product"]["candidates"] == len(candidates)
    pseudo = {r["call_id"]: r for r in (orjson.loads(v) for _, _, v in read_topic(settings, "pseudo_label"))}
    assert "13812345678" not in pseudo["bad-pii"]["context_text"] and "[电话]" in pseudo["bad-pii"]["context_text"]

    # Issue 17's kinds.
    assert finals["bad-float"]["product"]["segment_count"] == 2 and ready["bad-float"]["missing_seqs"] == []
    assert finals["bad-huge"]["product"]["segment_count"] == 1 and finals["bad-astral"]["product"]["segment_count"] == 1
    assert finals["bad-big"]["product"]["segment_count"] == 2
    # No words: attributed (accounted for), with the reason it raises nothing; no alert, no pseudo-label.
    assert [t["text"] for t in ready["bad-nowords"]["turns"]] == ["", "", "", ""]
    assert {t: a.get("alerts_withheld") for t, a in finals["bad-nowords"].items()} == {"product": "no_words",
                                                                                       "complaint": "no_words"}
    alerts = [orjson.loads(v) for _, _, v in read_topic(settings, "alert")]
    assert not [a for a in alerts if a["call_id"] == "bad-nowords"] and "bad-nowords" not in pseudo
    # Control and zero-width characters never reach the pseudo-label; full-width digits are read (and masked).
    ctrl = pseudo["bad-ctrl"]["context_text"] + pseudo["bad-ctrl"]["summary"]
    assert not [c for c in ctrl if unicodedata.category(c) in ("Cc", "Cf")], ctrl
    assert "我要投诉话费扣错了" in ctrl and "[电话]" in ctrl
    # Tombstones delete their key from the table and its changelog.
    assert changelog_last(settings, "accounts", b"u-tomb") is None
    assert changelog_last(settings, "labels", b"product.tomb") is None
    assert changelog_last(settings, "human_labels", b"bad-hl-tomb") is None
    assert changelog_last(settings, "accounts", b"u-bounds")["plan_name"] == "畅享套餐"
    assert changelog_last(settings, "labels", b"product.zw")["keywords"] == []
    assert changelog_last(settings, "rules", b"rule.tomb") is None
    # The regex-looking phrase is text: only the agent segment that says it literally alerts (seq 1; seq 3 does not).
    literal = [a for a in alerts if a["call_id"] == "bad-literal" and a["kind"] == "forbidden_phrase"]
    assert [(a["seq"], a["phrase"], a["rule_id"]) for a in literal] == [(1, "退.*款", "rule.bad")]
    scorecards = {r["call_id"]: validator("scorecard")(r) for r in (orjson.loads(v) for _, _, v in read_topic(settings, "scorecard"))}
    assert set(calls) <= set(scorecards)
    assert [r["outcome"] for r in scorecards["bad-literal"]["rules"] if r["rule_id"] == "rule.bad"] == ["fail"]
    assert provisional <= {orjson.loads(v)["call_id"] for _, _, v in attributions}

    # Counts add up, and `callqa check` says so (exit 0).
    report = reconcile(settings)
    assert report.ok, report.gaps
    c = report.counts
    transcript_dead = sum(1 for d in dead_at.values() if d["source_topic"] == settings.topic("transcript"))
    assert c["in.transcript"] == sum(t["product"]["segment_count"] + 2 for t in finals.values()) + transcript_dead
    check = subprocess.run([sys.executable, "-m", "streams.cli", "check"], env={**os.environ, **run.env},
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    print(f"bad-input corpus: {len(CORPUS)} kinds, {sum(len(r) for r in sent.values())} records, counts {dict(c)}")
    print("\n".join(f"| {kind} | {', '.join(r or 'handled' for r in rs)} |" for kind, rs in outcome.items()))
