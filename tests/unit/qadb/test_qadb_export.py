"""CSV export: UTF-8 with a BOM (Excel then reads Chinese as it is), the period in the centre's days, final
attributions unless provisional ones are asked for, scorecards flattened."""
import csv
from datetime import datetime, timedelta, timezone

import pytest
from conftest import attribution, example, item

from streams.qadb import store
from streams.qadb.export import export_csv, parse_time

CST = timezone(timedelta(hours=8))


def ms(*args) -> int:
    return int(datetime(*args, tzinfo=CST).timestamp() * 1000)


def read(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM first"
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))


@pytest.fixture
def stored(conn):
    items = [
        item("attribution", attribution("call-a", produced_at=ms(2026, 12, 1, 0, 0, 1))),
        item("attribution", attribution("call-a", task="complaint", produced_at=ms(2026, 12, 1, 0, 0, 1))),
        item("attribution", attribution("call-a", final=False, produced_at=ms(2026, 12, 1, 0, 0, 0))),
        item("attribution", attribution("call-b", produced_at=ms(2026, 11, 30, 23, 59, 59))),  # the day before
        item("attribution", attribution("call-c", produced_at=ms(2026, 12, 2, 0, 0, 0))),  # the day after
        item("alert", example("alert", produced_at=ms(2026, 12, 1, 9, 30))),
        item("scorecard", example("scorecard", started_at=ms(2026, 12, 1, 9, 0))),
    ]
    with conn.transaction():
        store.write(conn, items)
    return conn


def test_attributions_of_a_day_final_only(stored, tmp_path):
    out = tmp_path / "a.csv"
    since, until = parse_time("2026-12-01", 8), parse_time("2026-12-02", 8)
    assert export_csv(stored, "attributions", since, until, out) == 2
    rows = read(out)
    assert [(r["call_id"], r["task"]) for r in rows] == [("call-a", "complaint"), ("call-a", "product")]
    assert rows[0]["label_name"] == "流量扣费异常"
    assert rows[0]["produced_at"] == "2026-12-01 00:00:01+08:00"
    assert "final" not in rows[0]
    assert export_csv(stored, "attributions", since, until, out, provisional=True) == 3
    assert sorted(r["final"] for r in read(out)) == ["false", "true", "true"]


def test_alerts_and_scorecards(stored, tmp_path):
    since, until = parse_time("2026-12-01", 8), parse_time("2026-12-02T00:00:00+08:00", 8)
    assert export_csv(stored, "alerts", since, until, tmp_path / "alerts.csv") == 1
    (alert,) = read(tmp_path / "alerts.csv")
    assert alert["reason"].startswith("投诉归因「流量扣费异常」") and alert["rule_id"] == ""
    assert export_csv(stored, "scorecards", since, until, tmp_path / "cards.csv") == 1
    (card,) = read(tmp_path / "cards.csv")
    assert card["agent_id"] == "agent-07" and card["failed_rules"] == "身份核实"
    assert card["rules_failed"] == "1" and card["rules_applied"] == "3"
    assert card["product_label"] == "话费充值与账单查询" and card["agent_ratio"] == "0.5778"
    assert card["call_time"] == "2026-12-01 09:00:00+08:00"


def test_an_empty_period_writes_the_header(stored, tmp_path):
    since, until = parse_time("2025-01-01", 8), parse_time("2025-01-02", 8)
    for what in ("attributions", "alerts", "scorecards"):
        out = tmp_path / f"{what}.csv"
        assert export_csv(stored, what, since, until, out) == 0
        header = out.read_bytes().decode("utf-8-sig").splitlines()[0].split(",")
        assert "call_id" in header
    assert "failed_rules" in (tmp_path / "scorecards.csv").read_text("utf-8-sig")


def test_parse_time():
    assert parse_time("2026-12-01", 8) == datetime(2026, 11, 30, 16, tzinfo=timezone.utc)
    assert parse_time("2026-12-01T10:00", 8) == datetime(2026, 12, 1, 2, tzinfo=timezone.utc)
    assert parse_time("2026-12-01T10:00+00:00", 8) == datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
