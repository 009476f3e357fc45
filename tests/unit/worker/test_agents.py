"""The agents on faust's own test pattern (agent.test_context(): records put straight into the agent, no broker):
what each input does to the tables, what goes out, and that a bad record is a dead letter and the stream goes on."""
import orjson
import pytest

pytest.importorskip("faust")
from streams.core.settings import Settings  # noqa: E402
from streams.worker.app import build_worker  # noqa: E402

LABEL = {"label_id": "product.data_pack", "task": "product", "name": "流量加油包", "description": "流量包",
         "keywords": ["流量"], "active": True, "updated_at": 0}


def recorded(worker, *channels):
    """Each named output's sends, recorded instead of produced."""
    sent = {name: [] for name in channels}
    for name in channels:
        async def send(*, key=None, value=None, _name=name, **_):
            sent[_name].append((key, orjson.loads(value)))
        topic = worker.dead_letters.topic if name == "dead_letter" else getattr(worker.channels, name)
        topic.send = send
    return sent


@pytest.mark.asyncio
async def test_upsert_stores_deletes_and_dead_letters():
    worker = build_worker(Settings(inference_enabled=False))
    sent = recorded(worker, "dead_letter")
    async with worker.app.agents["callqa.upsert_label"].test_context() as agent:
        await agent.put(key=b"product.data_pack", value=orjson.dumps(LABEL))
        await agent.put(key=b"other", value=orjson.dumps(LABEL))  # key is not the label's id
        await agent.put(key=b"product.data_pack", value=b'{"label_id": ')
        assert worker.tables.labels["product.data_pack"] == LABEL
        await agent.put(key=b"product.data_pack", value=None)  # a tombstone deletes
        assert worker.tables.labels.get("product.data_pack") is None
    assert [d["reason"] for _, d in sent["dead_letter"]] == ["key_mismatch", "invalid_json"]


@pytest.mark.asyncio
async def test_assemble_emits_the_final_snapshot_at_call_end():
    worker = build_worker(Settings(inference_enabled=False, provisional_every=0))
    sent = recorded(worker, "call_ready", "dead_letter")
    events = [{"type": "call_start", "call_id": "c1", "user_id": "u1", "event_time": 0}]
    events += [{"type": "segment", "call_id": "c1", "user_id": "u1", "seq": seq, "speaker": "customer", "text": text,
                "start_ms": seq, "end_ms": seq + 1, "event_time": seq} for seq, text in ((1, "流量"), (0, "我的"))]
    events += [{"type": "call_end", "call_id": "c1", "user_id": "u1", "segment_count": 3, "event_time": 9}]
    async with worker.app.agents["callqa.assemble"].test_context() as agent:
        for event in events:
            await agent.put(key=b"c1", value=orjson.dumps(event))
        await agent.put(key=b"c2", value=orjson.dumps({**events[1], "call_id": "c2"}))  # no call_start: unknown call
    (key, ready), = sent["call_ready"]
    assert key == b"u1" and ready["final"] and [t["text"] for t in ready["turns"]] == ["我的", "流量"]
    assert ready["missing_seqs"] == [2] and ready["segment_count"] == 2
    assert [d["reason"] for _, d in sent["dead_letter"]] == ["unknown_call"]


RULE = {"rule_id": "rule.rude", "name": "服务禁语", "kind": "forbidden", "phrases": ["听不懂吗"], "weight": 30,
        "severity": "critical", "active": True, "updated_at": 0}


@pytest.mark.asyncio
async def test_a_rule_is_stored_and_its_forbidden_phrase_alerts_as_the_segment_arrives():
    worker = build_worker(Settings(inference_enabled=False, provisional_every=0, rules_refresh_s=0))
    sent = recorded(worker, "alert", "dead_letter")
    async with worker.app.agents["callqa.upsert_rule"].test_context() as agent:
        await agent.put(key=b"rule.rude", value=orjson.dumps(RULE))
        await agent.put(key=b"rule.x", value=orjson.dumps(
            {**RULE, "rule_id": "rule.x", "applies_when": {"task": "weather", "label_ids": ["a"]}}))
    assert worker.tables.rules["rule.rude"]["phrases"] == ["听不懂吗"] and "rule.x" not in worker.tables.rules
    events = [{"type": "call_start", "call_id": "c1", "user_id": "u1", "agent_id": "agent-07", "event_time": 0}]
    events += [{"type": "segment", "call_id": "c1", "user_id": "u1", "seq": seq, "speaker": speaker, "text": text,
                "start_ms": seq, "end_ms": seq + 1, "event_time": seq}
               for seq, speaker, text in ((0, "customer", "你听不懂吗"), (1, "agent", "您听不懂吗？"))]
    async with worker.app.agents["callqa.assemble"].test_context() as agent:
        for event in events:
            await agent.put(key=b"c1", value=orjson.dumps(event))
    (key, alert), = sent["alert"]  # the customer may say it; the agent may not
    assert key == b"c1" and alert["kind"] == "forbidden_phrase" and alert["seq"] == 1 and alert["phrase"] == "听不懂吗"
    assert [d["reason"] for _, d in sent["dead_letter"]] == ["unknown_task"]
