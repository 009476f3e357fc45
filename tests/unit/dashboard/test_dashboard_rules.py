"""The QA rule and agent endpoints over HTTP, with the dashboard's own app and a producer that only records what it
is given (no Kafka: the background readers are left out); and how the rule topic is read back."""
import json
from types import SimpleNamespace

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.core.codec import SCHEMA_DIR, decode, now_ms
from streams.core.settings import Settings
from streams.dashboard.server import COOKIE, _apply, make_app, read_from

TOKEN = "t0ken-for-the-test"
SETTINGS = Settings()
RULE_TOPIC = SETTINGS.topic("rule")


def example(event: str) -> dict:
    return json.loads((SCHEMA_DIR / "examples" / f"{event}.v1.json").read_text(encoding="utf-8"))


FORBIDDEN = {"rule_id": "rule.dash_forbidden", "name": "推诿禁语", "kind": "forbidden", "speaker": "agent",
             "phrases": ["不归我管", "ＡＢＣ不归我管"], "weight": 30, "severity": "critical"}


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def send_and_wait(self, topic, key=None, value=None):
        self.sent.append((topic, key, value))


async def client() -> TestClient:
    app = make_app(SETTINGS, TOKEN)
    app.cleanup_ctx.clear()  # no producer, no topic readers: a recording producer instead
    app["producer"] = Producer()
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    return test_client


async def cookie(c: TestClient) -> dict:
    response = await c.post("/login", data={"user": "质检员小王", "token": TOKEN}, allow_redirects=False)
    return {COOKIE: response.cookies[COOKIE].value}


def sent(c: TestClient) -> list:
    return c.server.app["producer"].sent


@pytest.mark.asyncio
async def test_a_valid_rule_is_produced_keyed_by_its_id():
    c = await client()
    try:
        before = now_ms()
        response = await c.post("/api/rules", json={**FORBIDDEN, "updated_at": 1}, cookies=await cookie(c))
        assert response.status == 200
        ((topic, key, value),) = sent(c)
        assert (topic, key) == (RULE_TOPIC, b"rule.dash_forbidden")
        rule = decode(value, "rule").to_dict()
        assert rule == await response.json()
        assert rule["updated_at"] >= before  # set by the server, whatever the page sent
        assert rule["active"] is True  # unless sent
        assert rule["phrases"] == ["不归我管", "ABC不归我管"]  # normalised as the worker normalises its inputs
        # Edited (the whole rule again), switched off.
        response = await c.post("/api/rules", json={**FORBIDDEN, "active": False, "weight": 5}, cookies=await cookie(c))
        assert response.status == 200 and decode(sent(c)[-1][2], "rule").weight == 5
        assert decode(sent(c)[-1][2], "rule").active is False
        # The API token does it too (scripts).
        response = await c.post("/api/rules", json=FORBIDDEN, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200 and len(sent(c)) == 3
    finally:
        await c.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("rule, reason, words", [
    ({k: v for k, v in FORBIDDEN.items() if k != "weight"}, "schema", "weight"),
    ({**FORBIDDEN, "kind": "loud"}, "schema", "kind"),
    ({**FORBIDDEN, "phrases": []}, "schema", "phrases"),
    ({**FORBIDDEN, "phrases": ["\u200b"]}, "rule_invalid", "no phrase left"),  # nothing left after normalisation
    ({**FORBIDDEN, "applies_when": {"task": "billing", "label_ids": ["complaint.x"]}}, "unknown_task", "billing"),
    ({**FORBIDDEN, "kind": "required", "position": {"within": "first"}}, "rule_invalid", "needs segments"),
    ({**FORBIDDEN, "rule_id": "规则 1"}, "schema", "rule_id"),
    (["not", "an", "object"], "schema", "JSON object"),
])
async def test_an_invalid_rule_is_refused_with_the_reason(rule, reason, words):
    c = await client()
    try:
        response = await c.post("/api/rules", json=rule, cookies=await cookie(c))
        assert response.status == 400
        body = await response.json()
        assert body["reason"] == reason and words in body["detail"], body
        assert sent(c) == []
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_not_json_is_refused():
    c = await client()
    try:
        response = await c.post("/api/rules", data=b"{not json", headers={"Content-Type": "application/json"},
                                cookies=await cookie(c))
        assert response.status == 400 and (await response.json())["reason"] == "invalid_json"
        # A form post (what a cross-site page could send without asking) is not taken at all.
        response = await c.post("/api/rules", data=orjson.dumps(FORBIDDEN), headers={"Content-Type": "text/plain"},
                                cookies=await cookie(c))
        assert response.status == 415
        assert sent(c) == []
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_rules_and_agents_need_a_login():
    c = await client()
    try:
        c.server.app["board"].apply("rule", example("rule"))
        rule_id = example("rule")["rule_id"]
        for method, path, body in (("POST", "/api/rules", FORBIDDEN), ("DELETE", f"/api/rules/{rule_id}", None),
                                   ("POST", f"/api/rules/{rule_id}/active", {"active": False}),
                                   ("GET", "/api/rules", None), ("GET", f"/api/rules/{rule_id}", None),
                                   ("GET", "/api/agents?days=7", None)):
            assert (await c.request(method, path, json=body)).status == 401, path
            assert (await c.request(method, path, json=body, cookies={COOKIE: "forged"})).status == 401, path
            wrong = {"Authorization": "Bearer wrong"}
            assert (await c.request(method, path, json=body, headers=wrong)).status == 401, path
        assert sent(c) == []
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_rules_are_listed_switched_off_and_deleted():
    c = await client()
    try:
        board, rule = c.server.app["board"], example("rule")
        board.apply("rule", rule)
        login = await cookie(c)
        assert (await (await c.get("/api/rules", cookies=login)).json()) == {"rules": [rule]}
        assert (await (await c.get(f"/api/rules/{rule['rule_id']}", cookies=login)).json()) == rule
        assert (await c.get("/api/rules/rule.unknown", cookies=login)).status == 404

        response = await c.post(f"/api/rules/{rule['rule_id']}/active", json={"active": False}, cookies=login)
        assert response.status == 200
        topic, key, value = sent(c)[-1]
        off = decode(value, "rule").to_dict()
        assert (topic, key, off["active"]) == (RULE_TOPIC, rule["rule_id"].encode(), False)
        assert off["updated_at"] > rule["updated_at"] and {**off, "active": True, "updated_at": 0} == {**rule, "updated_at": 0}

        response = await c.delete(f"/api/rules/{rule['rule_id']}", cookies=login)
        assert response.status == 200 and sent(c)[-1] == (RULE_TOPIC, rule["rule_id"].encode(), None)  # a tombstone
        assert (await c.delete("/api/rules/rule.unknown", cookies=login)).status == 404
        assert (await c.post("/api/rules/rule.unknown/active", json={"active": True}, cookies=login)).status == 404
        assert len(sent(c)) == 2
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_the_agent_view_over_http():
    c = await client()
    try:
        board, at = c.server.app["board"], now_ms()
        for call_id, agent_id, score in (("c1", "agent-01", 90.0), ("c2", "agent-02", 40.0), ("c3", "agent-01", 70.0)):
            board.apply("scorecard", {**example("scorecard"), "call_id": call_id, "agent_id": agent_id, "score": score,
                                      "produced_at": at})
        login = await cookie(c)
        body = await (await c.get("/api/agents?days=7", cookies=login)).json()
        assert body["days"] == 7
        assert [(a["agent_id"], a["calls"], a["mean_score"]) for a in body["agents"]] == [("agent-02", 1, 40.0),
                                                                                          ("agent-01", 2, 80.0)]
        assert body["agents"][0]["violations"] == [{"rule_id": "rule.verify_identity", "name": "身份核实", "calls": 1}]
        assert len((await (await c.get("/api/agents?days=1", cookies=login)).json())["agents"]) == 2
        assert len((await (await c.get("/api/agents?days=30", cookies=login)).json())["agents"]) == 2
        for days in ("0", "31", "seven"):
            assert (await c.get(f"/api/agents?days={days}", cookies=login)).status == 400, days
    finally:
        await c.close()


def message(value: bytes | None, key: bytes | None, offset: int = 0):
    return SimpleNamespace(topic=RULE_TOPIC, partition=0, offset=offset, key=key, value=value, timestamp=now_ms())


@pytest.mark.asyncio
async def test_the_rule_topic_is_read_as_the_worker_reads_it():
    app = make_app(SETTINGS, TOKEN)
    board, rule = app["board"], example("rule")
    await _apply(app, board, "rule", message(orjson.dumps(rule), rule["rule_id"].encode()), live=False)
    assert board.rules == {rule["rule_id"]: rule}
    # Refused by the worker too (a dead letter there), so not shown as in force: the last good one stays.
    for value, key in ((orjson.dumps({**rule, "phrases": ["\u200b"]}), rule["rule_id"].encode()),  # check_rule
                       (orjson.dumps({**rule, "weight": 1}), b"another.key"),  # key_mismatch
                       (b"{broken", rule["rule_id"].encode())):
        await _apply(app, board, "rule", message(value, key), live=False)
        assert board.rules == {rule["rule_id"]: rule}
    await _apply(app, board, "rule", message(None, rule["rule_id"].encode()), live=False)  # a tombstone
    assert board.rules == {}


def test_scorecards_are_read_back_further_than_the_rest():
    settings, now = Settings(dashboard_history_s=7200, dashboard_scorecard_history_s=30 * 86400), 1767225600000
    assert read_from(settings, "scorecard", now) == now - 30 * 86400 * 1000
    assert read_from(settings, "alert", now) == read_from(settings, "transcript", now) == now - 7200 * 1000
    assert read_from(settings, "rule", now) is None and read_from(settings, "label", now) is None  # all of it
    assert make_app(settings, TOKEN)["board"].agent_days_kept == 30
