"""The dashboard in a real browser (Debian's headless chromium, driven by Playwright) against the real stack: a real
broker, Triton and worker, and `callqa dashboard` as its own process."""
from __future__ import annotations

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


def read_until(settings: Settings, topic: str, until, timeout_s: float = 60) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of `topic` from the start until `until(records)` holds."""
    return read_topic(settings, topic, until, timeout_s, record=lambda m: (m.key(), m.value()))


def iot_call(path: Path, call_id: str) -> Path:
    t = int(time.time() * 1000)
    lines = [{"type": "call_start", "call_id": call_id, "user_id": "u-00001", "event_time": t}]
    for seq, (speaker, text) in enumerate([("customer", "你好，我们公司想批量办理物联网卡，联系电话13912345678"),
                                          ("agent", "好的，请问需要多少张"), ("customer", "大概两百张，用在共享单车的锁上")]):
        lines.append({"type": "segment", "call_id": call_id, "user_id": "u-00001", "seq": seq, "speaker": speaker, "text": text,
                      "start_ms": seq * 3000, "end_ms": seq * 3000 + 2500, "event_time": t + seq * 3000 + 2500})
    lines.append({"type": "call_end", "call_id": call_id, "user_id": "u-00001", "segment_count": 3, "event_time": t + 9000})
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def status(url: str, cookie: str | None = None) -> int:
    try:
        request = urllib.request.Request(url, headers={"Cookie": f"callqa_session={cookie}"} if cookie else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_dashboard_in_a_browser(kafka_bootstrap, triton_url, sample_dir, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "the browser test needs Debian's chromium (make test installs it)"
    expect.set_options(timeout=WAIT_MS)
    prefix, port, token = f"d{uuid.uuid4().hex[:8]}", free_port(), secrets.token_urlsafe(16)
    env = {"CALLQA_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "CALLQA_TRITON_URL": triton_url, "CALLQA_TOPIC_PREFIX": prefix,
           "CALLQA_APP_ID": f"{prefix}-worker", "CALLQA_DATA_DIR": str(tmp_path / "worker"),
           # Every complaint label that alerts does (the quick model mostly picks 无投诉, which never alerts; its
           # near-ties raise review alerts).
           "CALLQA_COMPLAINT_ALERT_THRESHOLD": "-1",
           "CALLQA_DASHBOARD_PORT": str(port), "CALLQA_DASHBOARD_TOKEN": token}
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, app_id=f"{prefix}-worker")
    create_topics(settings)
    publish(settings, "label", sample_dir / "catalog.jsonl")
    publish(settings, "account", sample_dir / "accounts.jsonl")
    worker = worker_process("dash-worker", env, tmp_path).start()
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

            # Calls replayed after the page loaded: alerts and counts arrive without a reload.
            replay(settings, first_calls(sample_dir / "transcript.jsonl", tmp_path / "calls.jsonl", 24), rate=0)
            first_alert = page.locator("#alerts tbody tr").first
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

            # Switched off on the page, the label is no candidate for the call after.
            row.locator("button.toggle").click()
            expect(row).to_contain_text("已停用")
            read_until(settings, changelog, lambda r: any(k == orjson.dumps(IOT_LABEL["label_id"]) and not orjson.loads(v)["active"]
                                                          for k, v in r))
            replay(settings, iot_call(tmp_path / "iot2.jsonl", "call-iot-dash-2"), rate=0)
            after_row = page.locator('#calls tbody tr[data-call-id="call-iot-dash-2"]')
            expect(after_row).to_contain_text("已结束")
            assert IOT_LABEL["name"] not in after_row.inner_text()

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
        worker.stop()

    assert "callqa_triton_ready 1.0" in metrics and "callqa_consumer_lag{" in metrics
    by_type = {}
    for p in pushes:
        by_type.setdefault(p["type"], []).append(p["ms"])
    report = {t: {"n": len(ms), "p50_ms": statistics.median(ms), "max_ms": max(ms)} for t, ms in by_type.items()}
    print(f"\npush latency (record produced on Kafka -> shown on the page): {report}\nscreenshot: {SCREENSHOT}")
    assert {"alert", "call", "count"} <= set(by_type)


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
