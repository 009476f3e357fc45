// callqa dashboard: a snapshot then live updates over server-sent events; no framework, no network beyond this server.
"use strict";
const state = { calls: new Map(), alerts: new Map(), labels: new Map(), counts: new Map(), rules: new Map(), selected: null,
  pinnedSeq: null, user: "", label: null };
const TASK_NAMES = { complaint: "投诉", product: "产品" };
const ALERT_KINDS = { complaint: "投诉", review: "复核", forbidden_phrase: "禁语" };
const SEVERITY = { info: "提示", minor: "轻微", major: "严重", critical: "致命" };
const RULE_KINDS = { forbidden: "禁语", required: "必说", max_silence: "静音上限", max_overlap: "抢话上限", max_talk_ratio: "说话占比上限" };
const OUTCOMES = { pass: "通过", fail: "未通过", "n/a": "不适用" };
const COLORS = ["#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f"];
// Push latency: record produced (its produced_at) -> shown on this page, per update; read by the browser test.
window.callqaPush = [];
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString("zh-CN", { hour12: false }) : "—");
const dateTime = (ms) => (ms ? new Date(Number(ms)).toLocaleString("zh-CN", { hour12: false }) : "—");  // past calls: with the day
const score = (x) => (x == null ? "—" : Number(x).toFixed(3));
const qa = (x) => (x == null ? "—" : String(Math.round(Number(x) * 10) / 10));  // a scorecard's 0-100
const seconds = (ms) => (ms == null ? "—" : (ms / 1000).toFixed(1) + " 秒");
const percent = (x) => (x == null ? "—" : (Number(x) * 100).toFixed(1) + "%");
const severity = (s) => `<span class="sev sev-${esc(s)}">${esc(SEVERITY[s] || s)}</span>`;

// --- incoming updates --------------------------------------------------------------------------------------------
let dirty = new Set(), pending = [];
function apply(update) {
  const d = update.data;
  switch (update.type) {
    case "snapshot":
      state.user = d.user;
      state.calls = new Map(d.calls.map((c) => [c.call_id, c]));
      state.alerts = new Map(d.alerts.map((a) => [a.alert_id, a]));
      state.labels = new Map(d.labels.map((l) => [l.label_id, l]));
      state.counts = new Map(d.counts.map((c) => [c.label_id, c]));
      state.rules = new Map((d.rules || []).map((r) => [r.rule_id, r]));
      showHealth(d.health);
      ["calls", "alerts", "labels", "counts", "rules"].forEach((k) => dirty.add(k));
      scheduleAgents(0);
      break;
    case "call": state.calls.set(d.call_id, d); dirty.add("calls"); pending.push(["call", d.call_id, d.updated_at]); break;
    case "alert": state.alerts.delete(d.alert_id); state.alerts.set(d.alert_id, d); dirty.add("alerts");
      pending.push([d.ack ? "ack" : "alert", d.alert_id, d.ack ? d.ack.acknowledged_at : d.produced_at]); break;
    case "label": state.labels.set(d.label_id, d); dirty.add("labels"); break;
    case "count": state.counts.set(d.label_id, d); dirty.add("counts"); pending.push(["count", d.label_id, d.produced_at]); break;
    case "rule": state.rules.set(d.rule_id, d); dirty.add("rules"); pending.push(["rule", d.rule_id, d.updated_at]); break;
    case "rule_deleted": state.rules.delete(d.rule_id); dirty.add("rules"); break;
    case "scorecard": pending.push(["scorecard", d.call_id, d.produced_at]); scheduleAgents(); break;
    case "health": showHealth(d); break;
  }
  scheduleRender();
}

let scheduled = false;
function scheduleRender() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    if (dirty.has("counts")) { renderCounts("complaint"); renderCounts("product"); }
    if (dirty.has("alerts")) renderAlerts();
    if (dirty.has("calls")) renderCalls();
    if (dirty.has("labels") || dirty.has("counts")) renderLabels();
    if (dirty.has("rules")) renderRules();
    dirty = new Set();
    const now = Date.now();
    for (const [type, id, at] of pending) if (at) window.callqaPush.push({ type, id, ms: now - at });
    pending = [];
    showPushLatency();
  });
}

function connect() {
  const source = new EventSource("/events");
  source.onopen = () => setChip("#h-stream", "推送：已连接", "ok");
  source.onmessage = (e) => apply(JSON.parse(e.data));
  source.onerror = () => setChip("#h-stream", "推送：重连中…", "bad");  // EventSource reconnects by itself
}

// --- header ------------------------------------------------------------------------------------------------------
function setChip(sel, text, cls) { const el = $(sel); el.textContent = text; el.className = "chip " + (cls || ""); }
function showHealth(h) {
  if (!h) return;
  $("#user").textContent = state.user;
  setChip("#h-triton", "Triton：" + ({ ready: "就绪", model_not_ready: "模型未就绪", not_ready: "未就绪", unreachable: "无法连接" }[h.triton] || "—"),
          h.triton === "ready" ? "ok" : h.triton === "unknown" ? "" : "bad");
  const lag = h.lag ? Object.values(h.lag).reduce((a, b) => a + b, 0) : null;
  setChip("#h-lag", "消费积压：" + (lag == null ? "—" : lag + " 条"), lag == null ? "" : lag > 1000 ? "warn" : "ok");
  setChip("#h-rate", "吞吐：" + h.attributions_per_min + " 条/分");
  setChip("#h-p95", "p95 延迟：" + (h.latency_p95_ms == null ? "—" : h.latency_p95_ms + " ms"));
}
function showPushLatency() {
  const ms = window.callqaPush.slice(-200).map((p) => p.ms).sort((a, b) => a - b);
  if (ms.length) setChip("#push-latency", `推送延迟 p50 ${ms[Math.floor(ms.length / 2)]} ms / p95 ${ms[Math.floor(0.95 * (ms.length - 1))]} ms`);
}

// --- attribution counts (computed by the stream processor's windowed table) -----------------------------------------
function renderCounts(task) {
  const rows = [...state.counts.values()].filter((c) => c.task === task && c.counts["60m"] > 0)
    .sort((a, b) => b.counts["15m"] - a.counts["15m"] || b.counts["60m"] - a.counts["60m"]);
  $(`#counts-${task} tbody`).innerHTML = rows.map((c) => `<tr data-label-id="${esc(c.label_id)}"><td>${esc(c.label_name)}</td>
    <td class="num c5">${c.counts["5m"]}</td><td class="num c15">${c.counts["15m"]}</td><td class="num c60">${c.counts["60m"]}</td>
    <td class="num ${c.rise > 0 ? "up" : c.rise < 0 ? "down" : ""}">${c.rise > 0 ? "▲" : c.rise < 0 ? "▼" : "–"} ${Math.abs(c.rise).toFixed(1)}/分</td></tr>`).join("");
  const rising = rows.filter((c) => c.rise > 0).sort((a, b) => b.rise - a.rise).slice(0, 3);
  $(`#rising-${task}`).innerHTML = rising.length ? "上升最快：" + rising.map((c) => `<span class="up">${esc(c.label_name)} +${c.rise.toFixed(1)}/分</span>`).join("、") : "";
  drawChart(task, rows.slice(0, COLORS.length));
}

function drawChart(task, rows) {
  const svg = $(`#chart-${task}`), W = 600, H = 160, pad = 18;
  const max = Math.max(1, ...rows.flatMap((c) => c.per_minute.map((m) => m.count)));
  const x = (i) => pad + (i * (W - 2 * pad)) / 59, y = (v) => H - pad - (v * (H - 2 * pad)) / max;
  let out = `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#bbb"/>`
    + `<text x="${pad}" y="12" font-size="10" fill="#888">${max}/分</text><text x="${pad}" y="${H - 4}" font-size="10" fill="#888">60分钟前</text>`
    + `<text x="${W - pad}" y="${H - 4}" font-size="10" fill="#888" text-anchor="end">现在</text>`;
  rows.forEach((c, k) => {
    const points = c.per_minute.map((m, i) => `${x(i).toFixed(1)},${y(m.count).toFixed(1)}`).join(" ");
    out += `<polyline fill="none" stroke="${COLORS[k]}" stroke-width="2" points="${points}"/>`;
  });
  svg.innerHTML = out;
  $(`#legend-${task}`).innerHTML = rows.map((c, k) => `<span><i style="background:${COLORS[k]}"></i>${esc(c.label_name)}</span>`).join("");
}

// --- alerts ------------------------------------------------------------------------------------------------------
// A forbidden-phrase alert names a rule, a phrase and a severity where the model's alerts name a label and a score.
const isRule = (a) => a.kind === "forbidden_phrase";
const alertKey = (a) => (isRule(a) ? "rule:" + a.rule_id : a.label_id);
const alertName = (a) => (isRule(a) ? "禁语 · " + a.rule_name : a.label_name);
function renderAlerts() {
  const label = $("#f-label").value, min = parseFloat($("#f-score").value), minutes = +$("#f-time").value, open = $("#f-open").checked;
  const kind = $("#f-kind").value;
  // newest first, whatever order they came in (the snapshot sends them newest first, live ones come after)
  const all = [...state.alerts.values()].sort((a, b) => b.produced_at - a.produced_at);
  const names = new Map(all.map((a) => [alertKey(a), alertName(a)]));
  const select = $("#f-label");
  if (select.options.length - 1 !== names.size) {
    select.innerHTML = `<option value="">全部标签</option>` + [...names].map(([id, n]) => `<option value="${esc(id)}">${esc(n)}</option>`).join("");
    select.value = label;
  }
  const since = minutes ? Date.now() - minutes * 60000 : 0;
  // The score filter is about the model's confidence: an alert without a score (a forbidden phrase) passes it.
  const shown = all.filter((a) => (!label || alertKey(a) === label) && (!kind || a.kind === kind)
    && (isNaN(min) || a.score == null || a.score >= min) && a.produced_at >= since && (!open || !a.ack));
  $("#alert-count").textContent = `${shown.length} / ${all.length} 条，未确认 ${all.filter((a) => !a.ack).length}`;
  $("#alerts tbody").innerHTML = shown.slice(0, 300).map((a) => `<tr data-alert-id="${esc(a.alert_id)}" data-label-id="${esc(a.label_id)}"${isRule(a) ? ` data-rule-id="${esc(a.rule_id)}"` : ""} class="${esc(a.kind)}${a.ack ? " acked" : ""}">
    <td>${time(a.produced_at)}</td><td>${esc(ALERT_KINDS[a.kind] || a.kind)}</td>
    <td><a href="#" data-call="${esc(a.call_id)}">${esc(a.call_id)}</a></td>
    <td>${isRule(a) ? `${esc(a.rule_name)} <span class="muted">「${esc(a.phrase)}」</span>` : esc(a.label_name)}</td>
    <td>${isRule(a) ? severity(a.severity) : score(a.score)}</td><td>${esc(a.reason)}</td>
    <td class="ack-state">${a.ack ? `已确认 · ${esc(a.ack.acknowledged_by)} · ${time(a.ack.acknowledged_at)}` : `<button class="ack-btn">确认</button>`}</td></tr>`).join("");
}

async function acknowledge(alertId, button) {
  button.disabled = true;
  const res = await fetch(`/api/alerts/${encodeURIComponent(alertId)}/ack`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  if (!res.ok) { button.disabled = false; alert("确认失败：" + (await res.text())); }
  // The row changes when the ack comes back from the topic, like on every other open page.
}

// --- calls -------------------------------------------------------------------------------------------------------
function renderCalls() {
  const calls = [...state.calls.values()].sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
  const live = calls.filter((c) => c.status === "in_progress").length;
  $("#call-count").textContent = `进行中 ${live} · 已结束 ${calls.length - live}`;
  const cell = (t) => (t ? `${esc(t.label_name)} <span class="muted">${score(t.score)}${t.final ? "" : " · 暂定"}</span>` : "—");
  const mark = (q) => (q ? `<span class="qa-score${q.critical_failed ? " critical" : ""}">${qa(q.score)}</span>` : "—");
  $("#calls tbody").innerHTML = calls.slice(0, 300).map((c) => `<tr data-call-id="${esc(c.call_id)}" class="${c.call_id === state.selected ? "selected" : ""}">
    <td>${esc(c.call_id)}</td><td><span class="badge ${c.status}">${c.status === "final" ? "已结束" : "进行中"}</span></td>
    <td>${cell(c.tasks.product)}</td><td>${cell(c.tasks.complaint)}</td><td class="qa">${mark(c.qa)}</td><td>${time(c.updated_at)}</td></tr>`).join("");
  if (state.selected && state.calls.get(state.selected)?.updated_at !== state.detailAt) showCall(state.selected);
}

async function showCall(callId) {
  if (state.selected !== callId) state.pinnedSeq = null;
  state.selected = callId;
  state.detailAt = state.calls.get(callId)?.updated_at;
  const res = await fetch(`/api/calls/${encodeURIComponent(callId)}`);
  if (!res.ok) { $("#call-detail").innerHTML = `<p class="error">${esc(await res.text())}</p>`; return; }
  const c = await res.json();
  const acc = c.account;
  const tasks = Object.entries(c.attributions).map(([task, a]) => `<h3>${TASK_NAMES[task]}：${esc(a.label_name)} ${score(a.score)}
      <small class="muted">${a.final ? "最终" : "暂定"} · 模型 v${esc(a.model_version)} · 模板 ${esc(a.template_version)}</small></h3>
    <ol>${a.top_k.map((t) => `<li>${esc(t.name)} <span class="muted">${score(t.score)}</span></li>`).join("")}</ol>`).join("");
  $("#call-detail").innerHTML = `<dl class="kv"><dt>通话</dt><dd id="detail-call-id">${esc(c.call_id)} · 用户 ${esc(c.user_id)}</dd>
      <dt>账户</dt><dd>${acc ? `余额 ${acc.balance_yuan}元 · ${esc(acc.plan_name)}（${acc.plan_fee_yuan}元/月）· ${esc(acc.data_allowance)}` : "未知"}</dd>
      <dt>摘要</dt><dd>${esc(c.summary || "—")}</dd></dl>${tasks}${scorecardHtml(c.scorecard)}
    <div class="transcript">${c.transcript.map((t) => `<p data-seq="${Number(t.seq)}"><span class="seq">${Number(t.seq)}</span> <b>${t.speaker === "agent" ? "客服" : "用户"}：</b>${esc(t.text)}</p>`).join("") || "<p class='muted'>无转写</p>"}</div>`;
  highlightSeq(state.pinnedSeq, false);
  renderCalls();
}

// The call's scorecard: each rule's outcome, with the segment that decided it (hover or click: marked in the transcript).
function scorecardHtml(sc) {
  if (!sc) return `<h3 id="scorecard">质检评分 <small class="muted">通话结束后生成</small></h3>`;
  const t = sc.talk || {};
  const rows = (sc.rules || []).map((r) => {
    const seq = r.seq == null ? null : Number(r.seq);
    return `<tr class="outcome-${r.outcome === "n/a" ? "na" : esc(r.outcome)}" data-rule-id="${esc(r.rule_id)}"${seq == null ? "" : ` data-seq="${seq}"`}>
      <td>${esc(r.name)} <span class="muted">${esc(RULE_KINDS[r.kind] || r.kind)} · ${esc(SEVERITY[r.severity] || r.severity)} · 权重 ${esc(r.weight)}</span></td>
      <td class="outcome">${esc(OUTCOMES[r.outcome] || r.outcome)}</td><td>${esc(r.detail) || "—"}</td>
      <td>${seq == null ? "—" : `<a href="#" class="seq-link" data-seq="${seq}">第 ${seq} 段</a>`}</td></tr>`;
  }).join("");
  return `<h3 id="scorecard">质检评分 <span class="qa-score${sc.critical_failed ? " critical" : ""}">${qa(sc.score)}</span>
      ${sc.critical_failed ? `<small class="error">致命项未通过</small>` : ""} <small class="muted">坐席 ${esc(sc.agent_id || "—")} · 模型 v${esc(sc.model_version)}</small></h3>
    <p class="talk">坐席说话占比 ${percent(t.agent_ratio)} · 最长静音 ${seconds(t.longest_silence_ms)} · 最长抢话 ${seconds(t.longest_overlap_ms)}（抢话 ${t.overlaps ?? 0} 次）</p>
    <table class="rule-results"><thead><tr><th>规则</th><th>结果</th><th>说明</th><th>判定段</th></tr></thead><tbody>${rows || `<tr><td colspan="4" class="muted">无规则</td></tr>`}</tbody></table>`;
}

function highlightSeq(seq, scroll) {
  document.querySelectorAll(".transcript p.hl").forEach((p) => p.classList.remove("hl"));
  if (seq == null) return;
  const p = document.querySelector(`.transcript p[data-seq="${Number(seq)}"]`);
  if (!p) return;
  p.classList.add("hl");
  if (scroll) p.scrollIntoView({ block: "nearest" });
}

// --- catalog -----------------------------------------------------------------------------------------------------
function renderLabels() {
  const labels = [...state.labels.values()].sort((a, b) => a.task.localeCompare(b.task) || a.label_id.localeCompare(b.label_id));
  $("#labels tbody").innerHTML = labels.map((l) => {
    const used = l.last_used ? `${esc(l.last_used.call_id)} ${l.last_used.chosen ? "（选中）" : "（候选前列）"} ${time(l.last_used.at)}` : "—";
    return `<tr data-label-id="${esc(l.label_id)}" class="${l.active ? "" : "acked"}${l.label_id === state.label ? " selected" : ""}">
      <td><a href="#" class="label-open" data-label-id="${esc(l.label_id)}" title="标签详情 / 历史回溯">${esc(l.label_id)}</a></td><td>${TASK_NAMES[l.task]}</td>
      <td>${esc(l.name)}</td><td>${esc(l.keywords.join("、"))}</td>
      <td><button class="toggle" data-active="${l.active}">${l.active ? "启用中 · 停用" : "已停用 · 启用"}</button></td><td class="last-used">${used}</td></tr>`;
  }).join("");
}

async function addLabel(form) {
  const body = Object.fromEntries(new FormData(form));
  const isNew = !state.labels.has(body.label_id);  // asked before the label can come back from its topic
  const res = await fetch("/api/labels", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  $("#label-error").textContent = res.ok ? "" : await res.text();
  if (!res.ok) return;
  form.reset();
  // The server back-fills the label over past calls in the background: follow it in the label panel.
  openLabel(body.label_id, { text: labelText(body.name, body.description), isNew });
}

// --- label detail: the label's back-fill over past calls ---------------------------------------------------------
// The text a label is embedded from, as the server writes it (streams/core/render.py render_label), near enough to
// tell whether the back-fill shown was made from the label's current text.
const normalise = (s) => String(s ?? "").normalize("NFKC").replace(/[\u0000-\u001f\u007f\u200b-\u200f\u2060\ufeff]/g, "")
  .split(/\s+/).filter(Boolean).join(" ");
const labelText = (name, description) => (normalise(description) ? `${normalise(name)}：${normalise(description)}` : normalise(name));
const BACKFILL_POLL_MS = 3000, BACKFILL_WAIT_MS = 90000;
let labelView = null;  // {labelId, wait: {text, isNew} or null, until, timer}

function openLabel(labelId, wait = null) {
  if (labelView) clearTimeout(labelView.timer);
  labelView = { labelId, wait, until: Date.now() + BACKFILL_WAIT_MS, timer: null };
  state.label = labelId;
  renderLabels();
  return loadBackfill(labelView);
}

// After the label form: done once there is a back-fill of this label's text (a new label: any back-fill).
const backfillDone = (b, wait) => b != null && (wait.isNew || b.label_text === wait.text);

async function loadBackfill(view) {
  let res = null, error = null;
  try { res = await fetch(`/api/labels/${encodeURIComponent(view.labelId)}/backfill`); } catch (e) { error = "无法连接服务器：" + e.message; }
  if (res && !res.ok) error = "读取回溯失败：" + (await failure(res));
  if (view !== labelView) return;  // another label was opened meanwhile
  const d = error ? null : await res.json();
  const polling = view.wait != null && (d == null || !backfillDone(d.backfill, view.wait)) && Date.now() < view.until;
  if (d) renderLabelPanel(d, polling);
  else $("#label-detail").innerHTML = `<h3>${esc(view.labelId)}</h3><p class="error">${esc(error)}</p>${polling ? `<p class="muted">回溯进行中…</p>` : ""}`;
  if (polling) view.timer = setTimeout(() => loadBackfill(view), BACKFILL_POLL_MS);
}

function renderLabelPanel(d, polling) {
  const l = d.label, b = d.backfill;
  const head = l ? `<h3>${esc(l.name)} <small class="muted">${esc(l.label_id)} · ${esc(TASK_NAMES[l.task] || l.task)} · ${l.active ? "启用中" : "已停用"}</small></h3>
      <p class="muted">${esc(l.description || "")}${(l.keywords || []).length ? ` 关键词：${esc(l.keywords.join("、"))}` : ""}</p>`
    : `<h3>${esc(d.label_id)} <small class="muted">目录中无此标签</small></h3>`;
  const status = polling ? `<p class="backfill-status">回溯进行中…${b ? `<span class="muted">（以下为上次回溯的结果）</span>` : ""}</p>` : "";
  if (!b) { $("#label-detail").innerHTML = head + (status || `<p class="backfill-status muted">尚未回溯</p>`); return; }
  $("#label-detail").innerHTML = head + status + backfillSummary(b) + backfillCalls(d.calls || []);
}

function backfillSummary(b) {
  const days = b.since && b.finished_at ? String(Math.round((Number(b.finished_at) - Number(b.since)) / 8640000) / 10) : "—";
  return `<p class="backfill-summary">回溯 ${days} 天内 ${Number(b.calls_scored)} 通通话，匹配 ${Number(b.calls_matched)} 通，`
    + `用时 ${Number(b.seconds).toFixed(1)} 秒，模型版本 v${esc(b.model_version)}，完成于 ${dateTime(b.finished_at)}`
    + ` <span class="muted" title="回溯时所用的标签文本">「${esc(b.label_text)}」</span></p>`;
}

function backfillCalls(calls) {
  const previous = (c) => (c.previous_label_id == null ? "—"
    : `${esc(c.previous_label_id)} <span class="muted">(${score(c.previous_score)})</span>`);
  return `<div class="scroll"><table id="backfill-calls"><thead><tr><th>通话</th><th>时间</th><th>得分</th><th>原归因</th><th>片段</th></tr></thead>
    <tbody>${calls.map((c) => `<tr data-call-id="${esc(c.call_id)}" class="backfilled">
      <td><a href="#" data-call="${esc(c.call_id)}">${esc(c.call_id)}</a> <span class="tag backfill-tag" title="由历史回溯匹配">回溯</span></td>
      <td>${dateTime(c.call_time)}</td><td class="num">${score(c.score)}</td><td>${previous(c)}</td>
      <td class="snippet">${esc(c.snippet)}</td></tr>`).join("") || `<tr><td colspan="5" class="muted">无匹配通话</td></tr>`}</tbody></table></div>`;
}

async function setActive(labelId, active) {
  await fetch(`/api/labels/${encodeURIComponent(labelId)}/active`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ active }) });
}

// --- QA rules ----------------------------------------------------------------------------------------------------
const RULE_TEMPLATE = { rule_id: "rule.new_forbidden", name: "新禁语规则", description: "", kind: "forbidden", speaker: "agent",
  phrases: ["示例短语"], weight: 10, severity: "major", active: true };
function renderRules() {
  const rules = [...state.rules.values()].sort((a, b) => a.rule_id.localeCompare(b.rule_id));
  $("#rule-count").textContent = `${rules.length} 条，启用 ${rules.filter((r) => r.active).length}`;
  $("#rules tbody").innerHTML = rules.map((r) => `<tr data-rule-id="${esc(r.rule_id)}" class="${r.active ? "" : "acked"}">
    <td>${esc(r.rule_id)}</td><td>${esc(r.name)}</td><td>${esc(RULE_KINDS[r.kind] || r.kind)}</td><td>${severity(r.severity)}</td>
    <td class="num">${esc(r.weight)}</td><td><button class="rule-toggle" data-active="${r.active}">${r.active ? "启用中 · 停用" : "已停用 · 启用"}</button></td>
    <td class="num phrase-count">${Number(r.phrase_count) || 0}</td>
    <td><button class="rule-edit">编辑</button> <button class="rule-delete">删除</button></td></tr>`).join("");
}

const REASONS = { database_unavailable: "质检数据库不可用", triton_unavailable: "模型服务（Triton）不可用", empty_query: "请输入搜索内容" };
async function failure(res) {
  const text = await res.text();
  try {
    const j = JSON.parse(text);
    if (!j.reason) return text;
    const reason = REASONS[j.reason] ? `${REASONS[j.reason]}（${j.reason}）` : j.reason;
    return j.detail ? `${reason}：${j.detail}` : reason;
  } catch (e) { return text; }
}

async function saveRule() {
  const error = $("#rule-error");
  let rule;
  try { rule = JSON.parse($("#rule-json").value); } catch (e) { error.textContent = "JSON 格式错误：" + e.message; return; }
  const res = await fetch("/api/rules", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(rule) });
  error.textContent = res.ok ? "" : "保存失败：" + (await failure(res));
  if (res.ok) $("#rule-json").value = "";  // the list changes when the rule comes back from its topic
}

async function editRule(ruleId) {
  const res = await fetch(`/api/rules/${encodeURIComponent(ruleId)}`);
  if (!res.ok) { $("#rule-error").textContent = await failure(res); return; }
  const rule = await res.json();
  delete rule.updated_at;  // set by the server when saved
  $("#rule-json").value = JSON.stringify(rule, null, 2);
  $("#rule-error").textContent = "";
  $("#rule-json").focus();
}

async function setRuleActive(ruleId, active) {
  const res = await fetch(`/api/rules/${encodeURIComponent(ruleId)}/active`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ active }) });
  if (!res.ok) $("#rule-error").textContent = await failure(res);
}

async function deleteRule(ruleId) {
  if (!confirm(`删除规则 ${ruleId}？`)) return;
  const res = await fetch(`/api/rules/${encodeURIComponent(ruleId)}`, { method: "DELETE" });
  if (!res.ok) $("#rule-error").textContent = await failure(res);
}

// --- agents (from the scorecards: per agent, worst mean score first) --------------------------------------------------
let agentsTimer = null;
function scheduleAgents(delay = 3000) {  // scorecards come with every finished call: reload at most every few seconds
  if (agentsTimer !== null) return;
  agentsTimer = setTimeout(() => { agentsTimer = null; loadAgents(); }, delay);
}

async function loadAgents() {
  const days = $("#agent-days").value || "7";
  const res = await fetch(`/api/agents?days=${encodeURIComponent(days)}`);
  if (!res.ok) { $("#agent-count").textContent = await res.text(); return; }
  renderAgents((await res.json()).agents || []);
}

function renderAgents(agents) {
  $("#agent-count").textContent = `${agents.length} 名坐席，${agents.reduce((n, a) => n + a.calls, 0)} 通电话`;
  $("#agents tbody").innerHTML = agents.map((a) => `<tr data-agent-id="${esc(a.agent_id)}">
    <td>${a.agent_id == null ? `<span class="muted">（未标明）</span>` : esc(a.agent_id)}</td><td class="num">${Number(a.calls)}</td>
    <td class="num"><span class="qa-score${a.critical_failures ? " critical" : ""}">${qa(a.mean_score)}</span></td>
    <td class="num">${Number(a.critical_failures)}</td><td class="num">${Number(a.violations_total)}</td>
    <td>${(a.violations || []).map((v) => `${esc(v.name)} ×${Number(v.calls)}`).join("、") || "—"}</td></tr>`).join("")
    || `<tr><td colspan="6" class="muted">所选时间内无评分</td></tr>`;
}

// --- search past calls by meaning ----------------------------------------------------------------------------------
let searchSeq = 0;
async function search() {
  const q = $("#search-q").value.trim(), seq = ++searchSeq;
  if (!q) { $("#search-count").textContent = ""; $("#search-error").textContent = REASONS.empty_query; return; }
  $("#search-error").textContent = "";
  $("#search-count").textContent = "搜索中…";
  let res;
  try { res = await fetch(`/api/search?q=${encodeURIComponent(q)}&limit=20`); } catch (e) { res = null; }
  const error = !res ? "无法连接服务器" : res.ok ? "" : "搜索失败：" + (await failure(res));
  if (seq !== searchSeq) return;  // a newer search was sent meanwhile
  if (error) { $("#search-count").textContent = ""; $("#search-error").textContent = error; return; }
  renderSearch(await res.json());
}

function renderSearch(d) {
  const results = d.results || [];
  $("#search-count").textContent = `${results.length} 条 · ${Number(d.ms).toFixed(1)} ms · 模型 v${d.model_version ?? "—"}`;
  $("#search-results tbody").innerHTML = results.map((r) => `<tr data-call-id="${esc(r.call_id)}">
    <td><a href="#" data-call="${esc(r.call_id)}">${esc(r.call_id)}</a></td><td>${dateTime(r.call_time)}</td>
    <td>${esc(TASK_NAMES[r.task] || r.task)}</td><td>${r.label_id == null ? "—" : esc(r.label_name || r.label_id)}</td>
    <td class="num">${score(r.score)}</td><td class="snippet">${esc(r.snippet)}</td></tr>`).join("")
    || `<tr><td colspan="6" class="muted">无相似通话</td></tr>`;
}

// --- agreement with the human spot checks (reloaded every 30 s) -------------------------------------------------------
const AGREEMENT_DAYS = [1, 7, 30], AGREEMENT_RELOAD_MS = 30000;
let agreementTimer = null;
async function loadAgreement() {
  clearTimeout(agreementTimer);
  agreementTimer = setTimeout(loadAgreement, AGREEMENT_RELOAD_MS);
  let res;
  try { res = await fetch("/api/agreement"); } catch (e) { $("#agreement-status").textContent = "无法连接服务器"; return; }
  if (!res.ok) { $("#agreement-status").textContent = "读取一致率失败：" + (await failure(res)); return; }
  renderAgreement(await res.json());
}

const taskOrder = (t) => (t in TASK_NAMES ? Object.keys(TASK_NAMES).indexOf(t) : 99);
const byTask = (a, b) => taskOrder(a) - taskOrder(b) || a.localeCompare(b);
const points = (x) => (x == null ? "—" : `${Math.round(Number(x) * 1000) / 10} 个百分点`);
function agreementCell(e) {  // e: {checked, agreed, agreement} or undefined
  if (!e || !Number(e.checked) || e.agreement == null) return `<td class="num muted">—</td>`;
  return `<td class="num">${percent(e.agreement)} <span class="muted">${Number(e.agreed)}/${Number(e.checked)}</span></td>`;
}

function renderAgreement(d) {
  const windows = new Map((d.windows || []).map((w) => [Number(w.days), w]));
  const baseline = d.baseline || {}, alerts = new Map((d.alerts || []).map((a) => [a.task, a]));
  const tasks = [...new Set([...(d.windows || []).flatMap((w) => (w.tasks || []).map((t) => t.task)), ...Object.keys(baseline)])].sort(byTask);
  const entry = (days, task) => ((windows.get(days) || {}).tasks || []).find((t) => t.task === task);
  $("#agreement tbody").innerHTML = tasks.map((task) => {
    const alert = alerts.get(task);
    return `<tr data-task="${esc(task)}" class="${alert ? "agreement-alert" : ""}"${alert ? ` title="近 7 天一致率低于上一模型超过 ${points(d.margin)}"` : ""}>
      <td>${esc(TASK_NAMES[task] || task)}${alert ? ` <span class="tag warn-tag">⚠ 下降</span>` : ""}</td>
      ${AGREEMENT_DAYS.map((days) => agreementCell(entry(days, task))).join("")}<td class="num">${percent(baseline[task])}</td></tr>`;
  }).join("") || `<tr><td colspan="5" class="muted">暂无人工抽检</td></tr>`;
  $("#agreement-status").innerHTML = [...alerts.values()].map((a) => `<span class="error">⚠ ${esc(TASK_NAMES[a.task] || a.task)}：近 7 天一致率 ${percent(a.agreement_7d)}，`
    + `低于上一模型 ${percent(a.baseline)}</span>`).join("；") || (d.margin == null ? "" : `<span class="muted">近 7 天低于上一模型超过 ${points(d.margin)}时告警</span>`);
  const labels = [...((windows.get(7) || {}).labels || [])]
    .sort((a, b) => byTask(a.task, b.task) || (a.agreement ?? 2) - (b.agreement ?? 2) || a.label_id.localeCompare(b.label_id));
  $("#agreement-labels tbody").innerHTML = labels.map((l) => `<tr data-label-id="${esc(l.label_id)}">
    <td>${esc(TASK_NAMES[l.task] || l.task)}</td><td>${esc(state.labels.get(l.label_id)?.name || l.label_id)} <span class="muted">${esc(l.label_id)}</span></td>
    ${agreementCell(l)}</tr>`).join("") || `<tr><td colspan="3" class="muted">近 7 天无人工抽检</td></tr>`;
}

// --- wiring ------------------------------------------------------------------------------------------------------
document.addEventListener("click", (e) => {
  const ack = e.target.closest(".ack-btn");
  if (ack) return acknowledge(ack.closest("tr").dataset.alertId, ack);
  const labelLink = e.target.closest("a.label-open");
  if (labelLink) { e.preventDefault(); $("#label-panel").scrollIntoView({ block: "nearest" }); return openLabel(labelLink.dataset.labelId); }
  const link = e.target.closest("a[data-call]");
  if (link) { e.preventDefault(); return showCall(link.dataset.call); }
  const toggle = e.target.closest("button.toggle");
  if (toggle) return setActive(toggle.closest("tr").dataset.labelId, toggle.dataset.active !== "true");
  const ruleToggle = e.target.closest("button.rule-toggle");
  if (ruleToggle) return setRuleActive(ruleToggle.closest("tr").dataset.ruleId, ruleToggle.dataset.active !== "true");
  const ruleEdit = e.target.closest("button.rule-edit");
  if (ruleEdit) return editRule(ruleEdit.closest("tr").dataset.ruleId);
  const ruleDelete = e.target.closest("button.rule-delete");
  if (ruleDelete) return deleteRule(ruleDelete.closest("tr").dataset.ruleId);
  const seq = e.target.closest("a.seq-link");
  if (seq) { e.preventDefault(); state.pinnedSeq = Number(seq.dataset.seq); return highlightSeq(state.pinnedSeq, true); }
  const row = e.target.closest("#calls tbody tr");
  if (row) return showCall(row.dataset.callId);
  const labelRow = e.target.closest("#labels tbody tr");
  if (labelRow) openLabel(labelRow.dataset.labelId);
});
// Hovering a rule's result marks the segment that decided it; leaving it goes back to the one clicked, if any.
document.addEventListener("mouseover", (e) => {
  const row = e.target.closest && e.target.closest(".rule-results tr[data-seq]");
  if (row) highlightSeq(row.dataset.seq, false);
});
document.addEventListener("mouseout", (e) => {
  const row = e.target.closest && e.target.closest(".rule-results tr[data-seq]");
  if (row && !row.contains(e.relatedTarget)) highlightSeq(state.pinnedSeq, false);
});
["#f-label", "#f-kind", "#f-score", "#f-time", "#f-open"].forEach((sel) => $(sel).addEventListener("input", renderAlerts));
$("#label-form").addEventListener("submit", (e) => { e.preventDefault(); addLabel(e.target); });
$("#rule-form").addEventListener("submit", (e) => { e.preventDefault(); saveRule(); });
$("#rule-template").addEventListener("click", () => { $("#rule-json").value = JSON.stringify(RULE_TEMPLATE, null, 2); });
$("#agent-days").addEventListener("input", loadAgents);
$("#search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
connect();
loadAgreement();
