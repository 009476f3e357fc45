import json

from streams.core.codec import SCHEMA_DIR
from streams.core.render import DEFAULT_TEMPLATE
from streams.dashboard.board import Board


def example(event: str) -> dict:
    return json.loads((SCHEMA_DIR / "examples" / f"{event}.v1.json").read_text(encoding="utf-8"))


def test_attributions_update_calls_and_label_use():
    board = Board()
    board.apply("label", example("label"))
    attribution = example("attribution")
    updates = board.apply("attribution", {**attribution, "final": False})
    assert updates[0] == {"type": "call", "data": board.call_row(board.calls[attribution["call_id"]])}
    assert updates[0]["data"]["status"] == "in_progress"
    board.apply("attribution", attribution)
    board.apply("attribution", {**attribution, "task": "product", "label_id": "product.x", "top_k": []})
    assert board.call_row(board.calls[attribution["call_id"]])["status"] == "final"
    # A provisional one re-delivered after the final changes nothing.
    assert board.apply("attribution", {**attribution, "final": False}) == []
    assert board.label_row("complaint.data_overcharge")["last_used"]["call_id"] == attribution["call_id"]
    assert board.health(now=attribution["produced_at"] / 1000)["attributions_per_min"] > 0


def test_acks_mark_alerts_even_when_read_first():
    board = Board()
    alert, ack = example("alert"), example("alert_ack")
    ack = {**ack, "alert_id": alert["alert_id"]}
    assert board.apply("alert_ack", ack) == []  # the ack topic may be read before the alert topic
    (update,) = board.apply("alert", alert)
    assert update["data"]["ack"]["acknowledged_by"] == ack["acknowledged_by"]
    assert board.snapshot()["alerts"][0]["alert_id"] == alert["alert_id"]


def test_call_detail_is_redacted():
    board = Board()
    start = example("call_start")
    board.apply("transcript", start)
    segment = {**example("segment"), "call_id": start["call_id"], "user_id": start["user_id"], "seq": 0,
               "text": "我的手机号是13912345678，流量被多扣了"}
    board.apply("transcript", segment)
    detail = board.call_detail(start["call_id"], DEFAULT_TEMPLATE)
    assert "13912345678" not in json.dumps(detail, ensure_ascii=False)
    assert "[电话]" in detail["transcript"][0]["text"] and detail["summary"]


def test_old_calls_make_room_finished_first():
    board = Board(max_calls=2)
    for i in range(2):
        board.apply("transcript", {**example("call_start"), "call_id": f"c{i}"})
    board.apply("transcript", {**example("call_end"), "call_id": "c1"})
    board.apply("transcript", {**example("call_start"), "call_id": "c2"})
    assert list(board.calls) == ["c0", "c2"]


def test_sessions_expire_and_are_revoked():
    from streams.dashboard.sessions import Sessions

    now = [0.0]
    sessions = Sessions(ttl_s=60, clock=lambda: now[0])
    first, second = sessions.create("质检员小王"), sessions.create("质检员小李")
    assert first != second and sessions.user(first) == "质检员小王"
    sessions.revoke(first)
    assert sessions.user(first) is None and sessions.user(second) == "质检员小李"
    now[0] = 61
    assert sessions.user(second) is None and sessions.user(None) is None and sessions.user("forged") is None


def test_failed_logins_are_limited_per_client():
    from streams.dashboard.sessions import LoginLimiter

    now = [0.0]
    limiter = LoginLimiter(max_failures=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.allowed("10.0.0.1")
        limiter.failed("10.0.0.1")
    assert not limiter.allowed("10.0.0.1") and limiter.allowed("10.0.0.2")
    now[0] = 61
    assert limiter.allowed("10.0.0.1")

# --- QA scorecards, the agent view, rules, forbidden-phrase alerts ---------------------------------------------------

NOW = 1767225600000  # 2026-01-01 00:00 UTC, 08:00 in the call centre (UTC+8)
HOUR, DAY = 3_600_000, 86_400_000


def scorecard(call_id: str, agent_id: str | None, score: float, at: int, failed=(), critical: bool = False) -> dict:
    card = {**example("scorecard"), "call_id": call_id, "agent_id": agent_id, "idempotency_key": f"{call_id}:scorecard:3", "score": score,
            "critical_failed": critical, "produced_at": at,
            "rules": [{"rule_id": r, "name": f"规则{r}", "kind": "required", "severity": "major", "weight": 10,
                       "outcome": "fail", "detail": "未说"} for r in failed]
            + [{"rule_id": "rule.silence", "name": "静音时长", "kind": "max_silence", "severity": "minor", "weight": 10,
                "outcome": "pass", "detail": "最长静音 1.0s（上限 12.0s）"}]}
    if agent_id is None:
        del card["agent_id"]
    return card


def by_agent(rows: list[dict]) -> dict:
    return {r["agent_id"]: r for r in rows}


def test_the_agent_view_sums_scorecards_per_day_over_1_7_30_days():
    board = Board()
    for card in (scorecard("c1", "agent-a", 50.0, NOW - HOUR, failed=["rule.greeting"]),
                 scorecard("c2", "agent-a", 100.0, NOW - 3 * DAY),
                 scorecard("c3", "agent-b", 0.0, NOW - 7 * HOUR, failed=["rule.forbidden", "rule.greeting"], critical=True),
                 scorecard("c4", "agent-b", 90.0, NOW - 10 * DAY, failed=["rule.greeting"]),
                 scorecard("c5", "agent-c", 80.0, NOW - 20 * DAY),
                 scorecard("c6", None, 70.0, NOW - 2 * HOUR),
                 scorecard("c7", "agent-a", 10.0, NOW - 9 * HOUR)):  # 23:00 the day before, in UTC+8
        board.apply("scorecard", card)

    today = board.agents(1, now_ms=NOW)
    # NOW - 7h is 01:00 today in UTC+8 (the day before in UTC): counted today.
    assert [r["agent_id"] for r in today] == ["agent-b", "agent-a", None]  # worst mean score first
    assert by_agent(today)["agent-b"] == {
        "agent_id": "agent-b", "calls": 1, "mean_score": 0.0, "critical_failures": 1, "violations_total": 2,
        "violations": [{"rule_id": "rule.forbidden", "name": "规则rule.forbidden", "calls": 1},
                       {"rule_id": "rule.greeting", "name": "规则rule.greeting", "calls": 1}]}
    assert by_agent(today)["agent-a"]["calls"] == 1  # c7 was yesterday

    week = by_agent(board.agents(7, now_ms=NOW))
    assert set(week) == {"agent-a", "agent-b", None}
    assert (week["agent-a"]["calls"], week["agent-a"]["mean_score"]) == (3, round(160 / 3, 1))
    assert week["agent-a"]["violations"] == [{"rule_id": "rule.greeting", "name": "规则rule.greeting", "calls": 1}]
    assert week["agent-b"]["calls"] == 1  # c4 is 10 days old

    month = board.agents(30, now_ms=NOW)
    assert [r["agent_id"] for r in month] == ["agent-b", "agent-a", None, "agent-c"]
    assert by_agent(month)["agent-b"] == {**by_agent(month)["agent-b"], "calls": 2, "mean_score": 45.0, "critical_failures": 1,
                                          "violations_total": 3}
    assert by_agent(month)["agent-b"]["violations"][0] == {"rule_id": "rule.greeting", "name": "规则rule.greeting", "calls": 2}
    # Nothing is kept per scorecard beyond the latest calls: per agent and day sums.
    assert len(board.agent_days) == 7  # (agent, day) pairs: a 3, b 2, c 1, no agent 1


def test_a_redelivered_or_rescored_scorecard_replaces_its_own_count():
    board = Board()
    board.apply("scorecard", scorecard("c1", "agent-a", 50.0, NOW - HOUR, failed=["rule.greeting"]))
    board.apply("scorecard", scorecard("c1", "agent-a", 50.0, NOW - HOUR, failed=["rule.greeting"]))  # re-delivered
    (row,) = board.agents(1, now_ms=NOW)
    assert (row["calls"], row["mean_score"], row["violations_total"]) == (1, 50.0, 1)
    board.apply("scorecard", scorecard("c1", "agent-a", 100.0, NOW - HOUR))  # re-scored (a new model version)
    (row,) = board.agents(1, now_ms=NOW)
    assert (row["calls"], row["mean_score"], row["violations"]) == (1, 100.0, [])


def test_the_agent_view_keeps_its_days_and_no_more():
    board = Board(agent_days_kept=30, max_counted=2)
    board.apply("scorecard", scorecard("old", "agent-a", 10.0, NOW - 31 * DAY))
    board.apply("scorecard", scorecard("c1", "agent-a", 50.0, NOW - 29 * DAY))
    assert {day for _, day in board.agent_days} == {board.day(NOW - 31 * DAY), board.day(NOW - 29 * DAY)}
    board.apply("scorecard", scorecard("c2", "agent-b", 70.0, NOW))  # a newer day: days past 30 are dropped
    assert {day for _, day in board.agent_days} == {board.day(NOW - 29 * DAY), board.day(NOW)}
    board.apply("scorecard", scorecard("late", "agent-a", 10.0, NOW - 40 * DAY))  # read late: older than the view
    assert len(board.agent_days) == 2 and len(board.counted) == 2  # bounded
    assert by_agent(board.agents(30, now_ms=NOW))["agent-a"]["calls"] == 1


def test_scorecards_show_on_their_calls_and_make_room():
    board = Board(max_calls=2)
    start = {**example("call_start"), "call_id": "c1", "agent_id": "agent-07"}
    board.apply("transcript", start)
    for seq in (0, 3):
        board.apply("transcript", {**example("segment"), "call_id": "c1", "user_id": start["user_id"], "seq": seq})
    card = {**example("scorecard"), "call_id": "c1", "critical_failed": True, "score": 0.0, "produced_at": NOW + DAY}
    updates = board.apply("scorecard", card)
    assert [u["type"] for u in updates] == ["scorecard", "call"]
    # The call's row changes (the page reloads an open detail when updated_at moves).
    assert updates[1]["data"]["qa"] == {"score": 0.0, "critical_failed": True} and updates[1]["data"]["updated_at"] == NOW + DAY
    assert updates[1]["data"]["agent_id"] == "agent-07"
    detail = board.call_detail("c1", DEFAULT_TEMPLATE)
    assert detail["scorecard"] == card
    assert [t["seq"] for t in detail["transcript"]] == [0, 3]  # the page marks the segment a rule names
    # A scorecard read before its call (another topic) is there when the call comes; full ones only for the latest.
    board.apply("scorecard", {**card, "call_id": "c2"})
    board.apply("transcript", {**start, "call_id": "c2"})
    assert board.call_row(board.calls["c2"])["qa"]["score"] == 0.0
    board.apply("transcript", {**example("call_end"), "call_id": "c1"})
    board.apply("transcript", {**start, "call_id": "c3"})  # c1 (finished) makes room, its scorecard with it
    assert "c1" not in board.scorecards and list(board.scorecards) == ["c2"]
    board.apply("scorecard", {**card, "call_id": "c3"})
    board.apply("scorecard", {**card, "call_id": "c4"})
    assert list(board.scorecards) == ["c3", "c4"]  # at most max_calls of them


def test_rules_come_and_go_with_their_topic():
    board = Board()
    rule = example("rule")
    (update,) = board.apply("rule", rule)
    assert update["type"] == "rule" and update["data"]["phrase_count"] == 3 and "phrases" not in update["data"]
    assert board.snapshot()["rules"] == [update["data"]]
    assert board.remove("rule", rule["rule_id"]) == [{"type": "rule_deleted", "data": {"rule_id": rule["rule_id"]}}]
    assert board.rules == {} and board.remove("rule", rule["rule_id"]) == []


def test_forbidden_phrase_alerts_are_kept_like_the_others():
    from streams.core.codec import decode, encode

    board = Board()
    forbidden = {"idempotency_key": "c1:rule:rule.forbidden_words:4", "alert_id": "c1:rule:rule.forbidden_words:4",
                 "kind": "forbidden_phrase", "call_id": "c1", "user_id": "u-1", "rule_id": "rule.forbidden_words",
                 "rule_name": "服务禁语", "severity": "critical", "phrase": "不归我管", "seq": 4,
                 "reason": "禁语「不归我管」（服务禁语，critical）出现在第 4 段", "produced_at": NOW}
    record = decode(encode(forbidden), "alert").to_dict()  # as read from the topic: no label, score or model
    assert "label_id" not in record and "score" not in record
    (update,) = board.apply("alert", record)
    assert update["data"] == {**forbidden, "ack": None}
    board.apply("alert_ack", {**example("alert_ack"), "alert_id": forbidden["alert_id"], "call_id": "c1"})
    assert board.snapshot()["alerts"][0]["ack"]["acknowledged_by"]
