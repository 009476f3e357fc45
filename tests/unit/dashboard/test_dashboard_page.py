"""The page's own logic, run in Node with a stub DOM (skipped where Node is absent; the browser test covers the rest)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

APP_JS = Path(__file__).resolve().parents[3] / "streams" / "dashboard" / "static" / "app.js"
# argv: app.js, then a scenario {updates, responses (url -> JSON body), run (JS, awaited), select}; prints the
# innerHTML of `select` after the run.
HARNESS = r"""
const vm = require("vm"), fs = require("fs");
const scenario = JSON.parse(process.argv[3]);
const element = () => ({ value: "", checked: false, options: { length: 1 }, innerHTML: "", textContent: "", style: {},
  dataset: {}, classList: { add() {}, remove() {}, toggle() {} }, addEventListener() {}, querySelector: () => element(),
  querySelectorAll: () => [], appendChild() {}, setAttribute() {}, focus() {}, scrollIntoView() {} });
const elements = {};
const respond = async (url) => ({ ok: true, status: 200, json: async () => (scenario.responses || {})[url] ?? {},
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


def run_page(tmp_path, select: str, run: str, updates=(), responses=None) -> str:
    (tmp_path / "harness.js").write_text(HARNESS)
    scenario = {"updates": list(updates), "responses": responses or {}, "run": run, "select": select}
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
