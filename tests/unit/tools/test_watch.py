"""The demo's live terminal view takes every kind of output record it watches."""
import json

from rich.console import Console

from streams.core.codec import SCHEMA_DIR
from streams.core.settings import Settings
from streams.tools.watch import WATCHED, View


def example(event: str) -> dict:
    return json.loads((SCHEMA_DIR / "examples" / f"{event}.v1.json").read_text(encoding="utf-8"))


def test_every_watched_record_renders_forbidden_alerts_and_scorecards_too():
    view = View(Settings())
    for event in WATCHED:
        view.add(event, example(event))
    forbidden = {"idempotency_key": "c:rule:r:3", "alert_id": "c:rule:r:3", "kind": "forbidden_phrase", "call_id": "c",
                 "user_id": "u", "rule_id": "r", "rule_name": "服务禁语", "severity": "critical", "phrase": "不归我管",
                 "seq": 3, "reason": "禁语「不归我管」", "produced_at": 1}
    view.add("alert", forbidden)
    console = Console(record=True, width=200)
    console.print(view.render())
    text = console.export_text()
    assert "服务禁语" in text and "critical" in text and "rules failed most" in text
    assert view.stats()["scorecards"] == 1 and view.stats()["qa_score_mean"] == example("scorecard")["score"]
