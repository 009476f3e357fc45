// callqa dashboard: a snapshot then live updates over server-sent events; no framework, no network beyond this server.
"use strict";
const state = { calls: new Map(), alerts: new Map(), labels: new Map(), counts: new Map(), selected: null, user: "" };
const TASK_NAMES = { complaint: "投诉", product: "产品" };
const COLORS = ["#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f"];
// Push latency: record produced (its produced_at) -> shown on this page, per update; read by the browser test.
window.callqaPush = [];
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const time = (ms) => (ms ? new Date(ms).toLocaleTimeString("zh-CN", { hour12: false }) : "—");
const score = (x) => (x == null ? "—" : Number(x).toFixed(3));

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
      showHealth(d.health);
      ["calls", "alerts", "labels", "counts"].forEach((k) => dirty.add(k));
      break;
    case "call": state.calls.set(d.call_id, d); dirty.add("calls"); pending.push(["call", d.call_id, d.updated_at]); break;
    case "alert": state.alerts.delete(d.alert_id); state.alerts.set(d.alert_id, d); dirty.add("alerts");
      pending.push([d.ack ? "ack" : "alert", d.alert_id, d.ack ? d.ack.acknowledged_at : d.produced_at]); break;
    case "label": state.labels.set(d.label_id, d); dirty.add("labels"); break;
    case "count": state.counts.set(d.label_id, d); dirty.add("counts"); pending.push(["count", d.label_id, d.produced_at]); break;
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
function renderAlerts() {
  const label = $("#f-label").value, min = parseFloat($("#f-score").value), minutes = +$("#f-time").value, open = $("#f-open").checked;
  // newest first, whatever order they came in (the snapshot sends them newest first, live ones come after)
  const all = [...state.alerts.values()].sort((a, b) => b.produced_at - a.produced_at);
  const names = new Map(all.map((a) => [a.label_id, a.label_name]));
  const select = $("#f-label");
  if (select.options.length - 1 !== names.size) {
    select.innerHTML = `<option value="">全部标签</option>` + [...names].map(([id, n]) => `<option value="${esc(id)}">${esc(n)}</option>`).join("");
    select.value = label;
  }
  const since = minutes ? Date.now() - minutes * 60000 : 0;
  const shown = all.filter((a) => (!label || a.label_id === label) && (isNaN(min) || a.score >= min) && a.produced_at >= since && (!open || !a.ack));
  $("#alert-count").textContent = `${shown.length} / ${all.length} 条，未确认 ${all.filter((a) => !a.ack).length}`;
  $("#alerts tbody").innerHTML = shown.slice(0, 300).map((a) => `<tr data-alert-id="${esc(a.alert_id)}" data-label-id="${esc(a.label_id)}" class="${a.kind}${a.ack ? " acked" : ""}">
    <td>${time(a.produced_at)}</td><td>${a.kind === "complaint" ? "投诉" : "复核"}</td>
    <td><a href="#" data-call="${esc(a.call_id)}">${esc(a.call_id)}</a></td><td>${esc(a.label_name)}</td><td>${score(a.score)}</td><td>${esc(a.reason)}</td>
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
  $("#calls tbody").innerHTML = calls.slice(0, 300).map((c) => `<tr data-call-id="${esc(c.call_id)}" class="${c.call_id === state.selected ? "selected" : ""}">
    <td>${esc(c.call_id)}</td><td><span class="badge ${c.status}">${c.status === "final" ? "已结束" : "进行中"}</span></td>
    <td>${cell(c.tasks.product)}</td><td>${cell(c.tasks.complaint)}</td><td>${time(c.updated_at)}</td></tr>`).join("");
  if (state.selected && state.calls.get(state.selected)?.updated_at !== state.detailAt) showCall(state.selected);
}

async function showCall(callId) {
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
      <dt>摘要</dt><dd>${esc(c.summary || "—")}</dd></dl>${tasks}
    <div class="transcript">${c.transcript.map((t) => `<p><b>${t.speaker === "agent" ? "客服" : "用户"}：</b>${esc(t.text)}</p>`).join("") || "<p class='muted'>无转写</p>"}</div>`;
  renderCalls();
}

// --- catalog -----------------------------------------------------------------------------------------------------
function renderLabels() {
  const labels = [...state.labels.values()].sort((a, b) => a.task.localeCompare(b.task) || a.label_id.localeCompare(b.label_id));
  $("#labels tbody").innerHTML = labels.map((l) => {
    const used = l.last_used ? `${esc(l.last_used.call_id)} ${l.last_used.chosen ? "（选中）" : "（候选前列）"} ${time(l.last_used.at)}` : "—";
    return `<tr data-label-id="${esc(l.label_id)}" class="${l.active ? "" : "acked"}"><td>${esc(l.label_id)}</td><td>${TASK_NAMES[l.task]}</td>
      <td>${esc(l.name)}</td><td>${esc(l.keywords.join("、"))}</td>
      <td><button class="toggle" data-active="${l.active}">${l.active ? "启用中 · 停用" : "已停用 · 启用"}</button></td><td class="last-used">${used}</td></tr>`;
  }).join("");
}

async function addLabel(form) {
  const body = Object.fromEntries(new FormData(form));
  const res = await fetch("/api/labels", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  $("#label-error").textContent = res.ok ? "" : await res.text();
  if (res.ok) form.reset();
}

async function setActive(labelId, active) {
  await fetch(`/api/labels/${encodeURIComponent(labelId)}/active`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ active }) });
}

// --- wiring ------------------------------------------------------------------------------------------------------
document.addEventListener("click", (e) => {
  const ack = e.target.closest(".ack-btn");
  if (ack) return acknowledge(ack.closest("tr").dataset.alertId, ack);
  const link = e.target.closest("a[data-call]");
  if (link) { e.preventDefault(); return showCall(link.dataset.call); }
  const toggle = e.target.closest("button.toggle");
  if (toggle) return setActive(toggle.closest("tr").dataset.labelId, toggle.dataset.active !== "true");
  const row = e.target.closest("#calls tbody tr");
  if (row) showCall(row.dataset.callId);
});
["#f-label", "#f-score", "#f-time", "#f-open"].forEach((sel) => $(sel).addEventListener("input", renderAlerts));
$("#label-form").addEventListener("submit", (e) => { e.preventDefault(); addLabel(e.target); });
connect();
