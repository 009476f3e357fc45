"""The page's own logic, run in Node with a stub DOM (skipped where Node is absent; the browser test covers the rest)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

APP_JS = Path(__file__).resolve().parents[3] / "streams" / "dashboard" / "static" / "app.js"
# argv: app.js, then a scenario {updates, responses (url -> JSON body), statuses (url -> HTTP status, 200 if absent),
# run (JS, awaited), select}; prints the innerHTML of `select` after the run.
HARNESS = r"""
const vm = require("vm"), fs = require("fs");
const scenario = JSON.parse(process.argv[3]);
const element = () => ({ value: "", checked: false, options: { length: 1 }, innerHTML: "", textContent: "", style: {},
  dataset: {}, classList: { add() {}, remove() {}, toggle() {} }, addEventListener() {}, querySelector: () => element(),
  querySelectorAll: () => [], appendChild() {}, setAttribute() {}, focus() {}, scrollIntoView() {} });
const elements = {};
const status = (url) => (scenario.statuses || {})[url] ?? 200;
const respond = async (url) => ({ ok: status(url) < 400, status: status(url), json: async () => (scenario.responses || {})[url] ?? {},
  text: async () => JSON.stringify((scenario.responses || {})[url] ?? {}) });
const context = { console, Date, Map, Set, Math, JSON, Number, String, parseFloat, isNaN, setTimeout, clearTimeout,
  encodeURIComponent, requestAnimationFrame: (f) => 0, fetch: respond,
  document: { querySelector: (s) => (elements[s] = elements[s] || element()), querySelectorAll: () => [],
              addEventListener() {}, createElement: () => element() },
  EventSource: class { constructor() {} addEventListener() {} close() {} }, location: { href: "" } };
context.window = context;
vm.createContext(context);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), context);
context.scenario = scenario;
vm.runInContext(`(async () => { for (const u of scenario.updates || []) apply(u); ${scenario.run} })()`, context).then(() => {
  console.log(JSON.stringify(elements[scenario.select].innerHTML));
  process.exit(0);  // the page's timers (the agent view's reload) are not waited for
}, (e) => { console.error(e); process.exit(1); });
"""
NOW = 1767230000000


def run_page(tmp_path, select: str, run: str, updates=(), responses=None, statuses=None) -> str:
    (tmp_path / "harness.js").write_text(HARNESS)
    scenario = {"updates": list(updates), "responses": responses or {}, "statuses": statuses or {}, "run": run, "select": select}
    out = subprocess.run(["node", str(tmp_path / "harness.js"), str(APP_JS), json.dumps(scenario)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    html = json.loads(out.stdout.strip().splitlines()[-1])
    assert "undefined" not in html and "NaN" not in html and "[object" not in html, html
    return html


def snapshot(**data) -> dict:
    return {"type": "snapshot", "data": {"user": "u", "calls": [], "alerts": [], "labels": [], "counts": [], "health": {},
                                         **data}}


def model_alert(i: int) -> dict:
    return {"alert_id": f"a{i}", "call_id": f"c{i}", "label_id": "complaint.x", "label_name": "x", "kind": "complaint",
            "score": 0.9, "reason": "", "produced_at": NOW + i * 1000, "ack": None}


FORBIDDEN_ALERT = {"alert_id": "c9:rule:rule.forbidden_words:4", "call_id": "c9", "user_id": "u-1", "kind": "forbidden_phrase",
                   "rule_id": "rule.forbidden_words", "rule_name": "服务禁语", "severity": "critical", "phrase": "不归我管",
                   "seq": 4, "reason": "禁语「不归我管」（服务禁语，critical）出现在第 4 段", "produced_at": NOW + 5000, "ack": None}
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="no Node")


@needs_node
def test_alerts_are_newest_first_after_a_page_load(tmp_path):
    """Issue 17: the server sends the snapshot's alerts newest first and the page reversed them again."""
    html = run_page(tmp_path, "#alerts tbody", "renderAlerts();",
                    [snapshot(alerts=[model_alert(i) for i in (3, 2, 1)])])  # newest first
    import re

    assert re.findall(r'data-alert-id="([^"]+)"', html) == ["a3", "a2", "a1"]


@needs_node
def test_a_forbidden_phrase_alert_shows_its_rule_and_severity(tmp_path):
    updates = [snapshot(alerts=[model_alert(1)]), {"type": "alert", "data": FORBIDDEN_ALERT}]
    html = run_page(tmp_path, "#alerts tbody", "renderAlerts();", updates)
    row = html[html.index(FORBIDDEN_ALERT["alert_id"]):]
    assert 'class="forbidden_phrase"' in html and "<td>禁语</td>" in row
    assert "服务禁语" in row and "「不归我管」" in row and "致命" in row  # rule where the label is, severity where the score is
    assert "0.900" in html  # the model's alert as before
    # The kind filter has 禁语; with a minimum score set, the alert without a score still shows.
    only = run_page(tmp_path, "#alerts tbody", '$("#f-kind").value = "forbidden_phrase"; $("#f-score").value = "0.95"; renderAlerts();', updates)
    assert FORBIDDEN_ALERT["alert_id"] in only and 'data-alert-id="a1"' not in only
    options = run_page(tmp_path, "#f-label", "renderAlerts();", updates)
    assert 'value="rule:rule.forbidden_words"' in options and "禁语 · 服务禁语" in options


SCORECARD = {"call_id": "c1", "user_id": "u-1", "agent_id": "agent-07", "score": 0.0, "critical_failed": True, "model_version": "3",
             "rules": [{"rule_id": "rule.forbidden_words", "name": "服务禁语", "kind": "forbidden", "severity": "critical",
                        "weight": 30, "outcome": "fail", "seq": 3, "detail": "说了「不归我管」"},
                       {"rule_id": "rule.greeting", "name": "开场问候", "kind": "required", "severity": "minor", "weight": 10,
                        "outcome": "pass", "seq": 0, "detail": "说了「您好」"},
                       {"rule_id": "rule.apology", "name": "投诉致歉", "kind": "required", "severity": "major", "weight": 10,
                        "outcome": "n/a", "detail": "complaint is complaint.none"}],
             "talk": {"agent_ms": 41200, "customer_ms": 30100, "agent_ratio": 0.5778, "longest_silence_ms": 8200,
                      "longest_overlap_ms": 1600, "overlaps": 2},
             "attributions": [], "segment_count": 4, "produced_at": NOW, "idempotency_key": "c1:scorecard:3"}


def call_detail(scorecard) -> dict:
    return {"call_id": "c1", "user_id": "u-1", "agent_id": "agent-07", "status": "final", "updated_at": NOW, "tasks": {},
            "qa": None, "account": None, "attributions": {}, "summary": "用户咨询流量", "scorecard": scorecard,
            "transcript": [{"seq": s, "speaker": "agent" if s % 2 else "customer", "text": f"第{s}句"} for s in range(4)]}


@needs_node
def test_the_call_detail_shows_the_scorecard(tmp_path):
    html = run_page(tmp_path, "#call-detail", 'await showCall("c1");', responses={"/api/calls/c1": call_detail(SCORECARD)})
    assert 'class="qa-score critical">0<' in html and "致命项未通过" in html  # red when a critical rule failed
    assert "未通过" in html and "通过" in html and "不适用" in html and "说了「不归我管」" in html
    assert 'data-seq="3"' in html and "第 3 段" in html and 'class="seq-link"' in html  # the deciding segment ...
    assert '<p data-seq="3">' in html  # ... and that segment in the transcript, to be marked
    assert "坐席说话占比 57.8%" in html and "最长静音 8.2 秒" in html and "最长抢话 1.6 秒" in html
    passed = run_page(tmp_path, "#call-detail", 'await showCall("c1");',
                      responses={"/api/calls/c1": call_detail({**SCORECARD, "score": 87.5, "critical_failed": False})})
    assert 'class="qa-score">87.5<' in passed and "致命项未通过" not in passed
    pending = run_page(tmp_path, "#call-detail", 'await showCall("c1");', responses={"/api/calls/c1": call_detail(None)})
    assert "通话结束后生成" in pending


@needs_node
def test_the_agent_view_and_the_rule_list(tmp_path):
    agents = {"days": 7, "agents": [
        {"agent_id": "agent-03", "calls": 4, "mean_score": 42.5, "critical_failures": 1, "violations_total": 3,
         "violations": [{"rule_id": "rule.greeting", "name": "开场问候", "calls": 2}, {"rule_id": "rule.overlap", "name": "抢话", "calls": 1}]},
        {"agent_id": None, "calls": 1, "mean_score": 100.0, "critical_failures": 0, "violations_total": 0, "violations": []}]}
    html = run_page(tmp_path, "#agents tbody", '$("#agent-days").value = "7"; await loadAgents();',
                    responses={"/api/agents?days=7": agents})
    assert html.index("agent-03") < html.index("（未标明）")  # in the server's order: worst first
    assert "开场问候 ×2、抢话 ×1" in html and "42.5" in html
    rules = [{"rule_id": "rule.forbidden_words", "name": "服务禁语", "kind": "forbidden", "severity": "critical", "weight": 30,
              "active": True, "updated_at": NOW, "phrase_count": 10},
             {"rule_id": "rule.silence", "name": "静音时长", "kind": "max_silence", "threshold": 12000, "severity": "minor",
              "weight": 10, "active": False, "updated_at": NOW, "phrase_count": 0}]
    listed = run_page(tmp_path, "#rules tbody", "renderRules();", [snapshot(rules=rules)])
    assert listed.index("rule.forbidden_words") < listed.index("rule.silence")
    assert "服务禁语" in listed and "致命" in listed and ">10<" in listed and "启用中 · 停用" in listed and "已停用 · 启用" in listed
    deleted = run_page(tmp_path, "#rules tbody", "renderRules();",
                       [snapshot(rules=rules), {"type": "rule_deleted", "data": {"rule_id": "rule.silence"}}])
    assert "rule.silence" not in deleted


LABEL = {"label_id": "complaint.5g", "task": "complaint", "name": "5G套餐投诉", "description": "用户投诉5G套餐资费或扣费",
         "keywords": ["5G", "套餐"], "active": True}
BACKFILL = {"label_id": "complaint.5g", "label": LABEL,
            "backfill": {"model_version": "3", "label_text": "5G套餐投诉：用户投诉5G套餐资费或扣费", "since": NOW - 30 * 86400000,
                         "calls_scored": 1200, "calls_matched": 2, "seconds": 0.8, "finished_at": NOW},
            "calls": [{"call_id": "c1", "task": "complaint", "score": 0.81, "previous_label_id": "complaint.billing",
                       "previous_score": 0.77, "call_time": NOW - 3600000, "snippet": "客服：您好<script>alert(1)</script>"},
                      {"call_id": "c2", "task": "complaint", "score": 0.64, "previous_label_id": None, "previous_score": None,
                       "call_time": NOW - 7200000, "snippet": "用户：5G套餐怎么多扣了钱"}],
            "database": True}
BACKFILL_URL = "/api/labels/complaint.5g/backfill"


@needs_node
def test_the_label_panel_shows_the_back_filled_calls(tmp_path):
    html = run_page(tmp_path, "#label-detail", 'await openLabel("complaint.5g");', responses={BACKFILL_URL: BACKFILL})
    import re

    assert 'id="backfill-calls"' in html and re.findall(r'<tr data-call-id="([^"]+)"', html) == ["c1", "c2"]  # best first
    assert "0.810" in html and "0.640" in html and "complaint.billing" in html and "(0.770)" in html
    assert html.count('class="tag backfill-tag"') == 2 and ">回溯<" in html  # each call marked as back-filled
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "回溯 30 天内 1200 通通话，匹配 2 通，用时 0.8 秒，模型版本 v3" in html
    assert 'data-call="c1"' in html  # opens the call detail
    # Right after the label form: the back-fill of the label's current text is there, so no more waiting.
    done = run_page(tmp_path, "#label-detail", 'await openLabel("complaint.5g", { text: labelText("5G套餐投诉", "用户投诉5G套餐资费或扣费"), isNew: false });',
                    responses={BACKFILL_URL: BACKFILL})
    assert "回溯进行中" not in done and "0.810" in done
    # ... an older back-fill (of the label's earlier text) is shown, but it is still waiting for the new one.
    stale = run_page(tmp_path, "#label-detail", 'await openLabel("complaint.5g", { text: labelText("5G套餐投诉", "新的描述"), isNew: false });',
                     responses={BACKFILL_URL: BACKFILL})
    assert "回溯进行中" in stale and "上次回溯" in stale
    none = {**BACKFILL, "backfill": None, "calls": []}
    waiting = run_page(tmp_path, "#label-detail", 'await openLabel("complaint.5g", { text: "x", isNew: true });',
                       responses={BACKFILL_URL: none})
    assert "回溯进行中…" in waiting and "backfill-calls" not in waiting
    clicked = run_page(tmp_path, "#label-detail", 'await openLabel("complaint.5g");', responses={BACKFILL_URL: none})
    assert "尚未回溯" in clicked and "回溯进行中" not in clicked
    away = run_page(tmp_path, "#label-detail", 'await openLabel("complaint.5g");',
                    responses={BACKFILL_URL: {"reason": "database_unavailable", "detail": "connection refused"}},
                    statuses={BACKFILL_URL: 503})
    assert "质检数据库不可用" in away and "connection refused" in away


@needs_node
def test_a_catalog_row_opens_the_label_panel(tmp_path):
    html = run_page(tmp_path, "#labels tbody", "renderLabels();", [snapshot(labels=[{**LABEL, "last_used": None}])])
    assert 'class="label-open" data-label-id="complaint.5g"' in html


SEARCH_URL = "/api/search?q=%E7%94%A8%E6%88%B7%E6%8A%95%E8%AF%895G%E5%A5%97%E9%A4%90%E6%89%A3%E8%B4%B9&limit=20"
SEARCH = {"query": "用户投诉5G套餐扣费", "model_version": "3", "ms": 35.2, "results": [
    {"call_id": "c1", "task": "complaint", "score": 0.7412, "snippet": "客服：<img src=x onerror=alert(1)>", "call_time": NOW,
     "label_id": "complaint.billing", "label_name": "话费争议"},
    {"call_id": "c<2>", "task": "product", "score": 0.6, "snippet": "用户：5G套餐", "call_time": NOW, "label_id": None,
     "label_name": None}]}


def text_of(select: str) -> str:
    """JS for after a run: `select`'s textContent where the harness reads innerHTML."""
    return f' $("{select}").innerHTML = $("{select}").textContent;'


@needs_node
def test_search_results_render_and_are_escaped(tmp_path):
    run = '$("#search-q").value = " 用户投诉5G套餐扣费 "; await search();'
    html = run_page(tmp_path, "#search-results tbody", run, responses={SEARCH_URL: SEARCH})
    assert html.index('data-call-id="c1"') < html.index('data-call-id="c&lt;2&gt;"')
    assert "0.741" in html and "话费争议" in html and "<td>投诉</td>" in html and "<td>产品</td>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    count = run_page(tmp_path, "#search-count", run + text_of("#search-count"), responses={SEARCH_URL: SEARCH})
    assert "2 条" in count and "35.2 ms" in count
    error = run_page(tmp_path, "#search-error", run + text_of("#search-error"), responses={SEARCH_URL: {"reason": "triton_unavailable", "detail": "timeout"}},
                     statuses={SEARCH_URL: 503})
    assert "Triton" in error and "timeout" in error
    empty = run_page(tmp_path, "#search-error", '$("#search-q").value = "  "; await search();' + text_of("#search-error"))
    assert "请输入" in empty


AGREEMENT = {"windows": [
    {"days": 1, "tasks": [{"task": "product", "checked": 40, "agreed": 33, "agreement": 0.825},
                          {"task": "complaint", "checked": 0, "agreed": 0, "agreement": None}], "labels": []},
    {"days": 7, "tasks": [{"task": "product", "checked": 200, "agreed": 170, "agreement": 0.85},
                          {"task": "complaint", "checked": 100, "agreed": 52, "agreement": 0.52}],
     "labels": [{"task": "complaint", "label_id": "complaint.billing", "checked": 10, "agreed": 7, "agreement": 0.7},
                {"task": "complaint", "label_id": "complaint.<x>", "checked": 0, "agreed": 0, "agreement": None}]},
    {"days": 30, "tasks": [{"task": "product", "checked": 800, "agreed": 664, "agreement": 0.83}], "labels": []}],
    "baseline": {"product": 0.83, "complaint": 0.61}, "margin": 0.05,
    "alerts": [{"task": "complaint", "agreement_7d": 0.52, "baseline": 0.61}]}


@needs_node
def test_the_agreement_table_marks_an_alerting_task(tmp_path):
    html = run_page(tmp_path, "#agreement tbody", "await loadAgreement();", responses={"/api/agreement": AGREEMENT})
    assert html.index('data-task="complaint"') < html.index('data-task="product"')  # in the page's order
    complaint, product = html[:html.index('data-task="product"')], html[html.index('data-task="product"'):]
    assert "82.5%" in product and "33/40" in product and "85.0%" in product and "83.0%" in product
    assert "agreement-alert" in complaint and "agreement-alert" not in product
    assert "52.0%" in complaint and "52/100" in complaint and "61.0%" in complaint and complaint.count("—") == 2  # 1 day (none checked), 30 days (none)
    status = run_page(tmp_path, "#agreement-status", "await loadAgreement();", responses={"/api/agreement": AGREEMENT})
    assert "投诉" in status and "52.0%" in status and "61.0%" in status
    labels = run_page(tmp_path, "#agreement-labels tbody", "await loadAgreement();", responses={"/api/agreement": AGREEMENT})
    assert "complaint.billing" in labels and "70.0%" in labels and "7/10" in labels and "complaint.&lt;x&gt;" in labels
    away = run_page(tmp_path, "#agreement-status", "await loadAgreement();" + text_of("#agreement-status"),
                    responses={"/api/agreement": {"reason": "database_unavailable", "detail": "down"}}, statuses={"/api/agreement": 503})
    assert "质检数据库不可用" in away
