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