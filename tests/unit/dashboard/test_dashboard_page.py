"""The page's own logic, run in Node with a stub DOM (skipped where Node is absent; the browser test covers the rest)."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

APP_JS = Path(__file__).resolve().parents[3] / "streams" / "dashboard" / "static" / "app.js"
HARNESS = r"""
const vm = require("vm"), fs = require("fs");
const element = () => ({ value: "", checked: false, options: { length: 1 }, innerHTML: "", textContent: "", style: {},
  dataset: {}, classList: { add() {}, remove() {}, toggle() {} }, addEventListener() {}, querySelector: () => element(),
  querySelectorAll: () => [], appendChild() {}, setAttribute() {} });
const elements = {};
const context = { console, Date, Map, Set, Math, JSON, Number, String, parseFloat, isNaN, setTimeout, clearTimeout,
  requestAnimationFrame: (f) => 0, fetch: async () => ({ ok: true, json: async () => ({}) }),
  document: { querySelector: (s) => (elements[s] = elements[s] || element()), querySelectorAll: () => [],
              addEventListener() {}, createElement: () => element() },
  EventSource: class { constructor() {} addEventListener() {} close() {} }, location: { href: "" } };
context.window = context;
vm.createContext(context);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), context);
vm.runInContext(`apply(${process.argv[3]}); renderAlerts();`, context);
const html = elements["#alerts tbody"].innerHTML;
console.log(JSON.stringify([...html.matchAll(/data-alert-id="([^"]+)"/g)].map((m) => m[1])));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="no Node")
def test_alerts_are_newest_first_after_a_page_load(tmp_path):
    """Issue 17: the server sends the snapshot's alerts newest first and the page reversed them again."""
    now = 1767230000000
    alerts = [{"alert_id": f"a{i}", "call_id": f"c{i}", "label_id": "complaint.x", "label_name": "x", "kind": "complaint",
               "score": 0.9, "reason": "", "produced_at": now + i * 1000, "ack": None} for i in (3, 2, 1)]  # newest first
    snapshot = {"type": "snapshot", "data": {"user": "u", "calls": [], "alerts": alerts, "labels": [], "counts": [],
                                             "health": {}}}
    (tmp_path / "harness.js").write_text(HARNESS)
    out = subprocess.run(["node", str(tmp_path / "harness.js"), str(APP_JS), json.dumps(snapshot)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["a3", "a2", "a1"]
