"""The dashboard in a real browser (Debian's headless chromium, driven by Playwright) against the real stack: a real
broker, Triton and worker, the QA database (a real PostgreSQL filled by `callqa sink`), and `callqa dashboard` as
its own process."""
from __future__ import annotations

import re
import secrets
import statistics
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
from support import read_topic

from streams.core.settings import Settings
from streams.core.topics import create_topics
from streams.qadb.store import connect
from streams.tools.database import sink_process
from streams.tools.replay import publish, replay
from streams.tools.stack import dashboard_process, free_port, port_open, wait_for, worker_process

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO / ".callqa" / "artifacts" / "dashboard.png"
WAIT_MS = 120_000  # an upper bound for the stack to get there, not a latency requirement
IOT_LABEL = {"task": "product", "label_id": "product.iot_card_dash", "name": "物联网卡业务", "keywords": "物联网卡",
             "description": "用户咨询物联网卡的开通、套餐和停复机。"}
# A rule added on the rules page (updated_at and active are the server's to set; its text is NFKC-stable, so it comes
# back as sent), and one it refuses.
DASH_RULE = {"rule_id": "rule.dash_polite", "name": "礼貌用语看板", "kind": "required", "speaker": "agent",
             "phrases": ["请稍等", "麻烦您"], "position": {"within": "anywhere"}, "weight": 5, "severity": "minor"}
BAD_RULE = {"rule_id": "rule.dash_bad", "name": "无短语", "kind": "forbidden", "phrases": [], "weight": 5, "severity": "minor"}
# The sample's rules.jsonl: 服务禁语 (critical) has "不归我管"; the agent says it in segment 1.
RUDE_TURNS = [("customer", "你好，我家宽带一直连不上"), ("agent", "这个不归我管，您找别的部门吧。"), ("customer", "那我该找谁啊")]
RUDE_ALERT = "call-rude-dash:rule:rule.forbidden_words:1"  # {call_id}:rule:{rule_id}:{seq}
# Added once the IoT calls are past: worded as the IoT label, so the calls that label won are the ones it would
# have won (back-fill from their stored vectors; the model does not see them again).
COPY_LABEL = {**IOT_LABEL, "label_id": "product.iot_card_copy", "keywords": ""}
SEARCH = "我们公司想批量办理物联网卡"


def read_until(settings: Settings, topic: str, until, timeout_s: float = 60) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of `topic` from the start until `until(records)` holds."""
    return read_topic(settings, topic, until, timeout_s, record=lambda m: (m.key(), m.value()))


def call_file(path: Path, call_id: str, turns: list[tuple[str, str]]) -> Path:
    t = int(time.time() * 1000)
    lines = [{"type": "call_start", "call_id": call_id, "user_id": "u-00001", "event_time": t}]
    for seq, (speaker, text) in enumerate(turns):
        lines.append({"type": "segment", "call_id": call_id, "user_id": "u-00001", "seq": seq, "speaker": speaker, "text": text,
                      "start_ms": seq * 3000, "end_ms": seq * 3000 + 2500, "event_time": t + seq * 3000 + 2500})
    lines.append({"type": "call_end", "call_id": call_id, "user_id": "u-00001", "segment_count": len(turns),
                  "event_time": t + len(turns) * 3000})
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def iot_call(path: Path, call_id: str) -> Path:
    return call_file(path, call_id, [("customer", "你好，我们公司想批量办理物联网卡，联系电话13912345678"),
                                     ("agent", "好的，请问需要多少张"), ("customer", "大概两百张，用在共享单车的锁上")])


def status(url: str, cookie: str | None = None) -> int:
    try:
        request = urllib.request.Request(url, headers={"Cookie": f"callqa_session={cookie}"} if cookie else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_dashboard_in_a_browser(kafka_bootstrap, triton_url, sample_dir, database_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "the browser test needs Debian's chromium (make test installs it)"
    expect.set_options(timeout=WAIT_MS)
    prefix, port, token = f"d{uuid.uuid4().hex[:8]}", free_port(), secrets.token_urlsafe(16)
    env = {"CALLQA_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "CALLQA_TRITON_URL": triton_url, "CALLQA_TOPIC_PREFIX": prefix,
           "CALLQA_APP_ID": f"{prefix}-worker", "CALLQA_DATA_DIR": str(tmp_path / "worker"),
           # Every complaint label that alerts does (the quick model mostly picks 无投诉, which never alerts; its
           # near-ties raise review alerts).
           "CALLQA_COMPLAINT_ALERT_THRESHOLD": "-1",
           "CALLQA_DASHBOARD_PORT": str(port), "CALLQA_DASHBOARD_TOKEN": token,
           "CALLQA_DATABASE_URL": database_url, "CALLQA_SINK_GROUP": f"{prefix}-sink", "CALLQA_SINK_BATCH_WINDOW_S": "0.2",
           "CALLQA_AGREEMENT_EVERY_S": "2"}
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, triton_url=triton_url, topic_prefix=prefix,
                        app_id=f"{prefix}-worker")
    create_topics(settings)
    publish(settings, "label", sample_dir / "catalog.jsonl")
    publish(settings, "rule", sample_dir / "rules.jsonl")  # the QA rules: scorecards and forbidden-phrase alerts
    publish(settings, "account", sample_dir / "accounts.jsonl")
    worker = worker_process("dash-worker", env, tmp_path).start()
    sink = sink_process(env, tmp_path, "dash-sink").start()
    board = dashboard_process(env, tmp_path).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: port_open("127.0.0.1", port), "dashboard", 60, board.proc, board.log_file)
        # No call content without a login.
        assert status(f"{base}/api/snapshot") == 401 and status(f"{base}/events") == 401
        assert status(f"{base}/metrics") == 200

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(WAIT_MS)
            page.goto(base)
            assert page.url.endswith("/login")
            page.fill("#user", "质检员小王")
            page.fill("#token", token)
            page.click("#login")
            expect(page.locator("#h-stream")).to_have_text("推送：已连接")
            expect(page.locator("#labels tbody tr").first).to_be_visible()  # the catalog, read from its topic
            expect(page.locator('#rules tbody tr[data-rule-id="rule.forbidden_words"]')).to_contain_text("服务禁语")  # the rules
            # The worker judges calls with the rules once its rule table has them.
            read_until(settings, f"{prefix}-worker-rules-changelog",
                       lambda r: orjson.dumps("rule.forbidden_words") in {k for k, _ in r}, timeout_s=WAIT_MS / 1000)

            # Calls replayed after the page loaded: alerts and counts arrive without a reload. (A forbidden-phrase alert
            # names a rule, not a label: the counts are checked on a model's alert.)
            replay(settings, first_calls(sample_dir / "transcript.jsonl", tmp_path / "calls.jsonl", 24), rate=0)
            first_alert = page.locator("#alerts tbody tr:not(.forbidden_phrase)").first
            expect(first_alert).to_be_visible()
            alert_id, label_id = first_alert.get_attribute("data-alert-id"), first_alert.get_attribute("data-label-id")
            expect(page.locator(f'.counts tbody tr[data-label-id="{label_id}"] td.c5')).not_to_have_text("0")

            # Acknowledge it: the ack is on the topic (who, what) and still shown after a reload. The row is found by
            # its id: newer alerts go on top while the calls replay, so "the first row" may be another alert by now.
            row = page.locator(f'#alerts tbody tr[data-alert-id="{alert_id}"]')
            row.locator(".ack-btn").click()
            acked = row.locator(".ack-state")
            expect(acked).to_contain_text("已确认 · 质检员小王")
            acks = [orjson.loads(v) for _, v in read_until(settings, settings.topic("alert_ack"), lambda r: len(r) >= 1)]
            assert [(a["alert_id"], a["acknowledged_by"]) for a in acks] == [(alert_id, "质检员小王")]
            page.reload()
            expect(acked).to_contain_text("已确认 · 质检员小王")

            # A label added on the page is in the worker's catalog for the next call, which the page then shows.
            page.select_option("#label-form select[name=task]", IOT_LABEL["task"])
            for field in ("label_id", "name", "keywords", "description"):
                page.fill(f"#label-form input[name={field}]", IOT_LABEL[field])
            page.click("#label-form button[type=submit]")
            row = page.locator(f'#labels tbody tr[data-label-id="{IOT_LABEL["label_id"]}"]')
            expect(row).to_be_visible()
            changelog = f"{prefix}-worker-labels-changelog"  # written by the worker once its catalog table has it
            read_until(settings, changelog, lambda r: orjson.dumps(IOT_LABEL["label_id"]) in {k for k, _ in r})  # JSON keys
            replay(settings, iot_call(tmp_path / "iot.jsonl", "call-iot-dash"), rate=0)
            expect(row.locator(".last-used")).to_contain_text("call-iot-dash （选中）")
            call_row = page.locator('#calls tbody tr[data-call-id="call-iot-dash"]')
            expect(call_row).to_contain_text(IOT_LABEL["name"])
            call_row.click()
            detail = page.locator("#call-detail")
            expect(detail).to_contain_text("物联网卡")
            expect(detail).to_contain_text("模型 v1")
            assert "13912345678" not in detail.inner_text() and "[电话]" in detail.inner_text()  # redacted
            # Its scorecard, once the worker has judged the finished call: each rule's outcome and the talk figures.
            scorecard = detail.locator("#scorecard")
            expect(scorecard.locator(".qa-score")).to_be_visible()
            expect(detail.locator('.rule-results tr[data-rule-id="rule.greeting"]')).to_contain_text("开场问候")
            expect(detail.locator(".talk")).to_contain_text("坐席说话占比")
            expect(detail.locator(".talk")).to_contain_text("最长静音")

            # Switched off on the page, the label is no candidate for the call after.
            row.locator("button.toggle").click()
            expect(row).to_contain_text("已停用")
            read_until(settings, changelog, lambda r: any(k == orjson.dumps(IOT_LABEL["label_id"]) and not orjson.loads(v)["active"]
                                                          for k, v in r))
            replay(settings, iot_call(tmp_path / "iot2.jsonl", "call-iot-dash-2"), rate=0)
            after_row = page.locator('#calls tbody tr[data-call-id="call-iot-dash-2"]')
            expect(after_row).to_contain_text("已结束")
            assert IOT_LABEL["name"] not in after_row.inner_text()

            # Back-fill: a label added now finds the past calls it would have won, from their stored vectors, on its
            # label page (marked as back-filled) and in the table.
            page.select_option("#label-form select[name=task]", COPY_LABEL["task"])
            for field in ("label_id", "name", "keywords", "description"):
                page.fill(f"#label-form input[name={field}]", COPY_LABEL[field])
            page.click("#label-form button[type=submit]")
            panel = page.locator("#label-panel")
            expect(panel).to_contain_text(COPY_LABEL["label_id"])
            backfilled = page.locator('#backfill-calls tr[data-call-id="call-iot-dash"]')
            expect(backfilled).to_be_visible()
            expect(backfilled).to_contain_text("回溯")
            with connect(database_url) as conn:
                rows = dict(conn.execute("SELECT call_id, previous_label_id FROM backfilled_attributions "
                                         "WHERE label_id = %s", (COPY_LABEL["label_id"],)).fetchall())
            assert rows["call-iot-dash"] == IOT_LABEL["label_id"]

            # Search by meaning: the page lists the stored calls nearest the sentence as the served model embeds it,
            # nearest first (checked against an exact scan of the table: which calls those are is the model's say).
            page.fill("#search-form input[name=q]", SEARCH)
            page.click("#search-form button[type=submit]")
            expect(page.locator("#search-results tbody tr").first).to_be_visible()
            found = page.eval_on_selector_all("#search-results tbody tr[data-call-id]", "rows => rows.map((r) => r.dataset.callId)")
            nearest = exact_nearest(settings, database_url, SEARCH)
            print(f"\nsearch {SEARCH!r}: {found[:10]}; the IoT calls rank "
                  f"{[i + 1 for i, (c, _) in enumerate(nearest) if c.startswith('call-iot-dash')]} of {len(nearest)}")
            fifth = nearest[4][1]
            assert len(found) == min(20, len(nearest)) and all(dict(nearest)[c] >= fifth - 1e-5 for c in found[:5])

            # A forbidden phrase alerts as its segment arrives: the rule where the label is, the severity where the score
            # is; the kind filter has 禁语. The call's scorecard fails the critical rule at that segment: 0, in red.
            replay(settings, call_file(tmp_path / "rude.jsonl", "call-rude-dash", RUDE_TURNS), rate=0)
            rude = page.locator(f'#alerts tbody tr[data-alert-id="{RUDE_ALERT}"]')
            expect(rude).to_contain_text("禁语")
            expect(rude).to_contain_text("服务禁语")
            expect(rude).to_contain_text("不归我管")
            expect(rude).to_contain_text("致命")
            assert "undefined" not in page.locator("#alerts").inner_text()
            page.select_option("#f-kind", "forbidden_phrase")
            expect(page.locator("#alerts tbody tr:not(.forbidden_phrase)")).to_have_count(0)
            expect(rude).to_be_visible()
            page.select_option("#f-kind", "")
            rude.locator("a[data-call]").click()
            expect(detail.locator("#detail-call-id")).to_contain_text("call-rude-dash")
            expect(detail.locator("#scorecard .qa-score.critical")).to_have_text("0")
            expect(detail.locator("#scorecard")).to_contain_text("致命项未通过")
            failed = detail.locator('.rule-results tr[data-rule-id="rule.forbidden_words"]')
            expect(failed).to_contain_text("未通过")
            expect(failed).to_contain_text("第 1 段")
            failed.locator("a.seq-link").click()  # marks the segment that decided it (hovering the row does too)
            expect(detail.locator('.transcript p[data-seq="1"]')).to_have_class(re.compile(r"\bhl\b"))

            # Rules page: a rule the worker would refuse is refused with the reason; a good one is produced to the rule
            # topic (keyed by its id) and listed when it comes back; deleting it sends a tombstone.
            page.fill("#rule-json", orjson.dumps(BAD_RULE).decode())
            page.click("#rule-save")
            expect(page.locator("#rule-error")).to_contain_text("schema")
            page.fill("#rule-json", orjson.dumps(DASH_RULE).decode())
            page.click("#rule-save")
            rule_row = page.locator(f'#rules tbody tr[data-rule-id="{DASH_RULE["rule_id"]}"]')
            expect(rule_row).to_contain_text(DASH_RULE["name"])
            expect(rule_row.locator(".phrase-count")).to_have_text("2")
            expect(page.locator("#rule-error")).to_have_text("")
            rule_key = DASH_RULE["rule_id"].encode()
            produced = read_until(settings, settings.topic("rule"), lambda r: any(k == rule_key for k, _ in r))
            (saved,) = [orjson.loads(v) for k, v in produced if k == rule_key]
            assert {k: saved[k] for k in DASH_RULE} == DASH_RULE and saved["active"] is True and saved["updated_at"] > 0
            page.once("dialog", lambda dialog: dialog.accept())  # 删除规则 …？
            rule_row.locator("button.rule-delete").click()
            expect(rule_row).to_have_count(0)
            produced = read_until(settings, settings.topic("rule"), lambda r: any(k == rule_key and v is None for k, v in r))
            assert BAD_RULE["rule_id"].encode() not in {k for k, _ in produced}

            # Agent view: the sample's agents from their scorecards, worst mean score first.
            page.select_option("#agent-days", "30")
            expect(page.locator('#agents tbody tr[data-agent-id^="agent-"]').first).to_be_visible()
            means = page.eval_on_selector_all("#agents tbody tr[data-agent-id]", "rows => rows.map((r) => parseFloat(r.cells[2].textContent))")
            assert len(means) >= 2 and means == sorted(means), means

            pushes = page.evaluate("window.callqaPush")
            page.locator("#alerts-panel").scroll_into_view_if_needed()
            page.evaluate("window.scrollTo(0, 0)")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # After a page load the newest alert comes first (issue 17: the page reversed the server's order).
            page.reload()
            expect(page.locator("#h-stream")).to_have_text("推送：已连接")
            expect(page.locator("#alerts tbody tr").first).to_be_visible()
            shown = page.eval_on_selector_all("#alerts tbody tr", "rows => rows.map((r) => r.dataset.alertId)")
            times = page.evaluate("ids => ids.map((id) => state.alerts.get(id).produced_at)", shown)
            assert len(times) >= 2 and times == sorted(times, reverse=True), times
            # Logging out ends the session on the server: the old cookie reads nothing any more.
            cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "callqa_session")
            assert status(f"{base}/api/snapshot", cookie) == 200
            page.click("form.user button")
            page.wait_for_url("**/login")
            assert status(f"{base}/api/snapshot", cookie) == 401
            browser.close()
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    finally:
        board.stop()
        sink.stop()
        worker.stop()

    assert "callqa_triton_ready 1.0" in metrics and "callqa_consumer_lag{" in metrics
    assert "callqa_human_agreement_alert" in metrics
    by_type = {}
    for p in pushes:
        by_type.setdefault(p["type"], []).append(p["ms"])
    report = {t: {"n": len(ms), "p50_ms": statistics.median(ms), "max_ms": max(ms)} for t, ms in by_type.items()}
    print(f"\npush latency (record produced on Kafka -> shown on the page): {report}\nscreenshot: {SCREENSHOT}")
    assert {"alert", "call", "count"} <= set(by_type)


def exact_nearest(settings: Settings, database_url: str, text: str) -> list[tuple[str, float]]:
    """Every stored call with its best cosine (over its tasks) to `text` embedded by the served model, nearest
    first, by a full scan (no index)."""
    import asyncio
    import concurrent.futures

    from streams.core.render import render_label
    from streams.dashboard.past import TextEncoder
    from streams.qadb.store import vector_text

    async def embed():
        encoder = TextEncoder(settings)
        try:
            return await encoder.embed([render_label({"name": text})])
        finally:
            await encoder.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        vectors, version = pool.submit(asyncio.run, embed()).result()
    with connect(database_url) as conn:
        rows = conn.execute("SELECT call_id, max(1 - (vector <=> %s::vector)) AS score FROM call_vectors "
                            "WHERE model_version = %s GROUP BY call_id ORDER BY score DESC",
                            (vector_text(vectors[0]), version)).fetchall()
    return [(c, s) for c, s in rows]


def first_calls(transcript: Path, out: Path, n: int) -> Path:
    """The events of the first `n` calls of a transcript file."""
    keep, lines = set(), []
    for line in transcript.read_bytes().splitlines():
        event = orjson.loads(line)
        if event["type"] == "call_start" and len(keep) < n:
            keep.add(event["call_id"])
        if event["call_id"] in keep:
            lines.append(line)
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out
