// logpipe console: search, live tail and counts over the public HTTP API. No dependencies.
"use strict";

const KEY_STORAGE = "logpipe.apiKey"; // session storage only: never in the URL, gone with the tab
const PAGE_SIZE = 50;
const STATS_EVERY_MS = 5000;
const RANGES = { "15m": 15 * 60e3, "1h": 60 * 60e3, "24h": 24 * 60 * 60e3, "7d": 7 * 24 * 60 * 60e3 };
const LONG_MESSAGE = 400;

const $ = (id) => document.getElementById(id);
const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23",
});
const numberFormat = new Intl.NumberFormat();
const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---------------------------------------------------------------- talking to the API

function authHeaders() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { "X-API-Key": key } : {};
}

async function api(path, options = {}) {
  return (await apiAnswer(path, options)).body;
}

// The body and, when the API answered from its cache because PostgreSQL is away (Warning 110), the time that
// answer was made (staleAt; from its Age, in this browser's clock). The body of a stale answer is unchanged.
async function apiAnswer(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (err) {
    throw new ApiError(0, "unreachable", `Cannot reach the logpipe API (${err.message}). Is the worker running?`);
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const message = (body && body.message) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, body && body.code, message);
  }
  const stale = (response.headers.get("Warning") || "").startsWith("110");
  const age = Number.parseInt(response.headers.get("Age") || "0", 10) || 0;
  return { body, staleAt: stale ? new Date(Date.now() - age * 1000) : null };
}

function showStale(staleAt) {
  const banner = $("stale");
  banner.hidden = !staleAt;
  banner.textContent = staleAt ? `database unavailable: showing results from ${clockFormat.format(staleAt)}` : "";
}

function explain(err) {
  if (err.status === 401) {
    return `${err.message}. Enter an API key with the query role above (it stays in this tab only).`;
  }
  if (err.status === 429 || err.status === 503) return `${err.message} — the API asks to retry shortly.`;
  return err.message;
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  const text = explain(err);
  box.textContent = text.charAt(0).toUpperCase() + text.slice(1);
  box.hidden = false;
}

// ---------------------------------------------------------------- the query, in the form and in the URL

function readForm() {
  const form = $("filters");
  return {
    levels: [...form.querySelectorAll('input[name="level"]:checked')].map((box) => box.value),
    source: $("f-source").value.trim(),
    org: $("f-org").value.trim(),
    range: $("f-range").value,
    start: localToIso($("f-start").value),
    end: localToIso($("f-end").value),
    q: $("f-q").value.trim(),
    fields: Object.fromEntries(fieldFilters),
  };
}

function fillForm(state) {
  for (const box of $("filters").querySelectorAll('input[name="level"]')) box.checked = state.levels.includes(box.value);
  $("f-source").value = state.source;
  $("f-org").value = state.org;
  $("f-range").value = state.range in RANGES || ["all", "custom"].includes(state.range) ? state.range : "24h";
  $("f-start").value = isoToLocal(state.start);
  $("f-end").value = isoToLocal(state.end);
  $("f-q").value = state.q;
  fieldFilters = new Map(Object.entries(state.fields || {}));
  showFieldFilters();
  showCustom();
}

function stateFromUrl() {
  const p = new URLSearchParams(location.search);
  const levels = p.getAll("level").flatMap((v) => v.split(",")).map((v) => v.trim().toUpperCase()).filter(Boolean);
  return {
    levels,
    source: p.get("source") || "",
    org: p.get("organization_id") || "",
    range: p.get("range") || (p.get("start") || p.get("end") ? "custom" : "24h"),
    start: p.get("start") || "",
    end: p.get("end") || "",
    q: p.get("q") || "",
    fields: Object.fromEntries([...p.entries()].filter(([name, value]) => name.startsWith(FIELD_PREFIX) && value)
      .map(([name, value]) => [name.slice(FIELD_PREFIX.length), value])),
    live: p.get("live") === "1",
  };
}

// The page's own URL: the filters and the time range as chosen ("1h" stays relative), so a shared link
// shows the same search; the API gets absolute times (filterParams with withTime).
function urlFor(state, live) {
  const p = filterParams(state, false);
  p.set("range", state.range);
  if (state.range === "custom") customRange(p, state);
  if (live) p.set("live", "1");
  return `${location.pathname}?${p}`;
}

function filterParams(state, withTime) {
  const p = new URLSearchParams();
  for (const level of state.levels) p.append("level", level);
  if (state.source) p.set("source", state.source);
  if (state.org) p.set("organization_id", state.org);
  if (state.q) p.set("q", state.q);
  for (const [key, value] of Object.entries(state.fields || {})) p.set(FIELD_PREFIX + key, value);
  if (withTime && state.range in RANGES) p.set("start", new Date(Date.now() - RANGES[state.range]).toISOString());
  if (withTime && state.range === "custom") customRange(p, state);
  return p;
}

function customRange(params, state) {
  if (state.start) params.set("start", state.start);
  if (state.end) params.set("end", state.end);
}

function localToIso(value) {
  if (!value) return "";
  const date = new Date(value); // datetime-local values are the viewer's local time
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function isoToLocal(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

// ---------------------------------------------------------------- field filters (field.KEY=value), shown as chips

const FIELD_PREFIX = "field.";
let fieldFilters = new Map(); // key -> the parameter's value as the API reads it (a,b: any of; \, a comma)

// The API splits a value on commas (any of) and reads \\ and \, as a backslash and a comma: one value, escaped.
function fieldValue(value) {
  return String(value).replace(/\\/g, "\\\\").replace(/,/g, "\\,");
}

function fieldText(value) {
  return value === null ? "null" : String(value);
}

function showFieldFilters() {
  const box = $("field-filters");
  box.replaceChildren(...[...fieldFilters].map(([key, value]) => {
    const chip = document.createElement("span");
    chip.className = "chip active";
    chip.setAttribute("role", "listitem");
    chip.dataset.key = key;
    chip.textContent = `${key}=${value} `;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove the filter ${key}=${value}`);
    remove.addEventListener("click", () => { fieldFilters.delete(key); showFieldFilters(); search(true); });
    chip.append(remove);
    return chip;
  }));
  $("field-filters-wrap").hidden = fieldFilters.size === 0;
}

// Clicking an event's field narrows the search to it (another value of the same key replaces the one set).
function filterOnField(key, value) {
  fieldFilters.set(key, fieldValue(fieldText(value)));
  showFieldFilters();
  search(true);
}

// The fields extracted from a JSON or logfmt message (metadata.fields), as chips: key=value, click to filter;
// by name, as the stored order is jsonb's (shortest key first).
function fieldChips(fields) {
  const box = document.createElement("div");
  box.className = "chips event-fields";
  for (const [key, value] of Object.entries(fields).sort(([a], [b]) => a.localeCompare(b))) {
    if (key === "_truncated") continue;
    const scalar = value === null || ["string", "number", "boolean"].includes(typeof value);
    const text = `${key}=${scalar ? fieldText(value) : JSON.stringify(value)}`;
    if (!scalar || value === "") { // arrays are not searched into, and an empty value filters nothing
      box.append(Object.assign(document.createElement("span"), { className: "chip plain", textContent: text }));
      continue;
    }
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.dataset.key = key;
    chip.textContent = text;
    chip.title = `Show only events with ${key}=${fieldText(value)}`;
    chip.addEventListener("click", () => filterOnField(key, value));
    box.append(chip);
  }
  return box;
}

function showCustom() {
  const custom = $("f-range").value === "custom";
  for (const field of document.querySelectorAll(".field.custom")) field.hidden = !custom;
}

// ---------------------------------------------------------------- rendering events

function eventItem(event, fresh) {
  const level = String(event.level || "INFO");
  const li = document.createElement("li");
  li.className = `event lvl-row-${level}${fresh ? " fresh" : ""}`;
  li.dataset.id = event.id;

  const time = document.createElement("time");
  time.dateTime = event.timestamp;
  time.textContent = formatTime(event.timestamp);
  time.title = event.timestamp;

  const badge = document.createElement("span");
  badge.className = `badge lvl-${level}`;
  badge.textContent = level;

  const source = document.createElement("span");
  source.className = "source";
  source.textContent = event.source;

  const message = document.createElement("span");
  message.className = "message";
  const text = String(event.message ?? "");
  if (text.length > LONG_MESSAGE) {
    message.textContent = text.slice(0, LONG_MESSAGE) + "… ";
    const all = document.createElement("button");
    all.type = "button";
    all.className = "link";
    all.textContent = `show all ${numberFormat.format(text.length)} characters`;
    all.addEventListener("click", () => { message.textContent = text; });
    message.append(all);
  } else {
    message.textContent = text;
  }

  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "Details";
  const list = document.createElement("dl");
  const add = (name, value) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    list.append(dt, dd);
  };
  add("id", event.id);
  add("timestamp (UTC)", event.timestamp);
  add("organization", event.organization_id ?? "—");
  add("trace id", event.trace_id ?? "—");
  const fields = event.metadata && event.metadata.fields;
  if (fields && typeof fields === "object" && !Array.isArray(fields)) add("fields", fieldChips(fields));
  const metadata = document.createElement("pre");
  metadata.textContent = event.metadata ? JSON.stringify(event.metadata, null, 2) : "—";
  add("metadata", metadata);
  const contextButton = document.createElement("button");
  contextButton.type = "button";
  contextButton.className = "link show-context";
  contextButton.textContent = "show context";
  const context = document.createElement("ol");
  context.className = "context";
  context.hidden = true;
  contextButton.addEventListener("click", () => {
    if (context.dataset.loaded) {
      context.hidden = !context.hidden;
      contextButton.textContent = context.hidden ? "show context" : "hide context";
    } else {
      showContext(event.id, context, contextButton);
    }
  });
  details.append(summary, list, contextButton, context);

  li.append(time, badge, source, message, details);
  return li;
}

// The events of the same source and organization around this one, oldest first, the event itself marked.
async function showContext(id, context, button) {
  button.disabled = true;
  try {
    const answer = await api(`/api/v1/logs/${encodeURIComponent(id)}/context?before=10&after=10`);
    context.replaceChildren();
    for (const neighbour of answer.content) {
      const row = document.createElement("li");
      row.className = `context-event lvl-row-${neighbour.level}${neighbour.hit ? " hit" : ""}`;
      const badge = document.createElement("span");
      badge.className = `badge lvl-${neighbour.level}`;
      badge.textContent = neighbour.level;
      const when = document.createElement("time");
      when.dateTime = neighbour.timestamp;
      when.textContent = formatTime(neighbour.timestamp);
      const text = document.createElement("span");
      text.className = "message";
      text.textContent = String(neighbour.message ?? "");
      row.append(when, " ", badge, " ", text);
      context.append(row);
    }
    context.dataset.loaded = "1";
    context.hidden = false;
    button.textContent = "hide context";
  } catch (err) {
    context.replaceChildren(Object.assign(document.createElement("li"), { textContent: `context: ${err.message}` }));
    context.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- volume over time

const LEVEL_COLOURS = { TRACE: "#8c959f", DEBUG: "#54aeff", INFO: "#2da44e", WARN: "#d4a72c", ERROR: "#cf222e", FATAL: "#82071e" };
const SVG = "http://www.w3.org/2000/svg";

// Stacked bars per bucket in level colours; dragging across them narrows the search to the buckets covered.
async function drawHistogram(params, mine) {
  const box = $("histogram");
  let answer;
  try {
    answer = await api(`/api/v1/logs/histogram?${params}`);
  } catch {
    box.replaceChildren();
    return;
  }
  if (mine !== generation) return;
  const buckets = answer.buckets;
  const highest = Math.max(1, ...buckets.map((b) => b.total));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${buckets.length} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  buckets.forEach((bucket, i) => {
    let y = 100;
    for (const level of Object.keys(LEVEL_COLOURS)) {
      const n = bucket.levels[level] || 0;
      if (!n) continue;
      const height = (n / highest) * 100;
      y -= height;
      const bar = document.createElementNS(SVG, "rect");
      Object.entries({ x: i + 0.1, y, width: 0.8, height, fill: LEVEL_COLOURS[level], class: `bar bar-${level}` })
        .forEach(([k, v]) => bar.setAttribute(k, String(v)));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${bucket.start} ${level}: ${n}`;
      bar.append(title);
      svg.append(bar);
    }
  });
  const bucketAt = (clientX) => {
    const rect = svg.getBoundingClientRect();
    return Math.min(buckets.length - 1, Math.max(0, Math.floor(((clientX - rect.left) / rect.width) * buckets.length)));
  };
  let from = null;
  svg.addEventListener("mousedown", (e) => { from = bucketAt(e.clientX); e.preventDefault(); });
  svg.addEventListener("mouseup", (e) => {
    if (from === null) return;
    const to = bucketAt(e.clientX);
    const [first, last] = [Math.min(from, to), Math.max(from, to)];
    from = null;
    if (first === last) return;
    const start = new Date(buckets[first].start);
    const end = new Date(new Date(buckets[last].start).getTime() + answer.interval_seconds * 1000 - 1);
    $("f-range").value = "custom";
    $("f-start").value = isoToLocal(start.toISOString());
    $("f-end").value = isoToLocal(end.toISOString());
    showCustom();
    search(true);
  });
  box.replaceChildren(svg);
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : timeFormat.format(date);
}

// ---------------------------------------------------------------- search and "load more"

let current = null; // the state of the search on screen
let nextCursor = null;
let trimmed = false;
let generation = 0; // bumped by each search: answers to an older one are stale and dropped
let shown = null; // the filters of the results on screen and the exact request they answered

// PostgreSQL away (503 database_unavailable) and the same filters as on screen, only the relative time window
// moved on: the API may still hold the answer to the request on screen in its cache, so ask for exactly that.
async function searchAnswer(params, state) {
  const filters = JSON.stringify(state);
  try {
    const answer = await apiAnswer(`/api/v1/logs?${params}`);
    shown = { filters, params: String(params) };
    return answer;
  } catch (err) {
    if (err.code !== "database_unavailable" || !shown || shown.filters !== filters) throw err;
    return apiAnswer(`/api/v1/logs?${shown.params}`);
  }
}

async function search(pushUrl) {
  const mine = ++generation;
  current = readForm();
  const live = $("live").checked;
  if (pushUrl) history.replaceState(null, "", urlFor(current, live));
  nextCursor = null;
  trimmed = false;
  setStatus("Searching…");
  try {
    const params = filterParams(current, true);
    params.set("limit", String(PAGE_SIZE));
    drawHistogram(filterParams(current, true), mine);
    const { body: page, staleAt } = await searchAnswer(params, current);
    if (mine !== generation) return;
    showError(null);
    showStale(staleAt);
    const list = $("events");
    list.replaceChildren(...page.content.map((event) => eventItem(event, false)));
    nextCursor = page.next_cursor;
    setStatus(`${page.content.length}${nextCursor ? "+" : ""} events`);
  } catch (err) {
    if (mine !== generation) return;
    $("events").replaceChildren();
    shown = null;
    showStale(null);
    showError(err);
    setStatus("");
  } finally {
    if (mine === generation) updateMore();
  }
  if (mine !== generation) return;
  if (live) startLive(); else stopLive();
}

async function loadMore() {
  if (!nextCursor || !current) return;
  const mine = generation;
  $("more").disabled = true;
  try {
    const params = filterParams(current, true);
    params.set("limit", String(PAGE_SIZE));
    params.set("cursor", nextCursor);
    const { body: page, staleAt } = await apiAnswer(`/api/v1/logs?${params}`);
    if (mine !== generation) return;
    showError(null);
    showStale(staleAt);
    $("events").append(...page.content.map((event) => eventItem(event, false)));
    nextCursor = page.next_cursor;
    setStatus(`${$("events").children.length}${nextCursor ? "+" : ""} events`);
  } catch (err) {
    showError(err);
  } finally {
    $("more").disabled = false;
    updateMore();
  }
}

function updateMore() {
  $("more").hidden = !nextCursor || trimmed;
  $("empty").hidden = $("events").children.length > 0;
}

function setStatus(text) {
  $("status").textContent = text;
}

// ---------------------------------------------------------------- live view (the SSE tail, read with fetch so the key stays a header)

let liveAbort = null;
let paused = false;
let held = [];

function cap() {
  return Number($("cap").value);
}

function startLive() {
  stopLive();
  const controller = new AbortController();
  liveAbort = controller;
  document.body.classList.add("live-on");
  $("pause").disabled = false;
  follow(controller).catch(() => {});
}

function stopLive() {
  if (liveAbort) liveAbort.abort();
  liveAbort = null;
  paused = false;
  held = [];
  document.body.classList.remove("live-on");
  $("pause").disabled = true;
  $("pause").textContent = "Pause";
  $("pause").setAttribute("aria-pressed", "false");
}

async function follow(controller) {
  const params = filterParams(current || readForm(), false);
  while (!controller.signal.aborted) {
    try {
      const response = await fetch(`/api/v1/logs/tail?${params}`, { headers: authHeaders(), signal: controller.signal });
      if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try { message = (await response.json()).message || message; } catch { /* not JSON */ }
        throw new ApiError(response.status, "tail", message);
      }
      await readEvents(response.body, controller);
      if (!controller.signal.aborted) setStatus("The live stream ended; reconnecting…");
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        showError(err);
        $("live").checked = false;
        stopLive();
        return;
      }
      setStatus("Live stream interrupted; reconnecting…");
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function readEvents(body, controller) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  while (!controller.signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      handleMessage(block);
    }
  }
}

function handleMessage(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
    // The server says it is listening once its reader holds a position: from here on nothing is missed.
    else if (line === ": listening" && !paused) setStatus("Following live: new events appear at the top");
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (name === "dropped") {
    setStatus("The server dropped this live view (it fell behind); reconnecting…");
    return;
  }
  if (paused) {
    held.push(payload);
    if (held.length > cap()) held.splice(0, held.length - cap());
    setStatus(`Paused: ${numberFormat.format(held.length)} new events waiting`);
    return;
  }
  addLive([payload]);
}

function addLive(events) {
  const list = $("events");
  for (const event of events) {
    if (list.querySelector(`li[data-id="${CSS.escape(String(event.id))}"]`)) continue;
    list.prepend(eventItem(event, true));
  }
  while (list.children.length > cap()) {
    list.lastElementChild.remove();
    trimmed = true;
  }
  updateMore();
}

function togglePause() {
  paused = !paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  $("pause").setAttribute("aria-pressed", String(paused));
  if (!paused) {
    addLive(held);
    held = [];
    setStatus("Following live: new events appear at the top");
  } else {
    setStatus("Paused: new events are kept until you resume");
  }
}

// ---------------------------------------------------------------- counts

async function refreshStats() {
  try {
    const stats = await api("/api/v1/stats");
    $("total").textContent = numberFormat.format(stats.total);
    const orgs = Object.keys(stats.organizations || {});
    $("counts-scope").textContent = sessionStorage.getItem(KEY_STORAGE) && orgs.length === 1 ? `(${orgs[0]})` : "";
    bars($("level-counts"), Object.entries(stats.levels), true);
    bars($("source-counts"), Object.entries(stats.sources).slice(0, 10), false);
    rate(stats.per_minute);
  } catch (err) {
    if (err.status !== 401) showError(err);
  }
  try {
    const letters = await api("/api/v1/dlq?limit=1");
    const total = letters.total ?? letters.content.length;
    const more = total >= 100000 ? "+" : "";
    $("dlq-count").textContent = `${numberFormat.format(total)}${more} dead letter${total === 1 ? "" : "s"}`;
  } catch (err) {
    const why = { 401: "needs an API key", 403: "needs an admin key" }[err.status] || "unavailable";
    $("dlq-count").textContent = why;
  }
}

function bars(list, entries, levels) {
  list.replaceChildren(...entries.map(([name, n]) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    if (levels) {
      label.className = `badge lvl-${name}`;
      label.dataset.level = name;
    }
    label.textContent = name;
    const count = document.createElement("span");
    count.textContent = numberFormat.format(n);
    li.append(label, count);
    return li;
  }));
}

function rate(perMinute) {
  const chart = $("rate");
  const top = Math.max(1, ...perMinute.map((m) => m.count));
  chart.replaceChildren(...perMinute.map((m) => {
    const bar = document.createElement("span");
    bar.style.height = `${(m.count / top) * 100}%`;
    bar.title = `${formatTime(m.minute)}: ${numberFormat.format(m.count)}`;
    return bar;
  }));
  const sum = perMinute.reduce((total, m) => total + m.count, 0);
  const last = perMinute.length ? perMinute[perMinute.length - 1].count : 0;
  $("rate-summary").textContent =
    `${numberFormat.format(sum)} events stored in the last hour, ${numberFormat.format(last)} this minute, ` +
    `at most ${numberFormat.format(top)} in one minute.`;
}

// ---------------------------------------------------------------- dead letters

let dlqCursor = null;

async function showLetters(append) {
  const reason = $("dlq-reason").value;
  const params = new URLSearchParams({ limit: "50" });
  if (reason) params.set("reason", reason);
  if (append && dlqCursor) params.set("cursor", dlqCursor);
  try {
    const page = await api(`/api/v1/dlq?${params}`);
    showError(null);
    const rows = page.content.map(letterRow);
    if (append) $("letters").append(...rows); else $("letters").replaceChildren(...rows);
    if (!append) $("dlq-total").textContent = page.total == null ? "" : `(${numberFormat.format(page.total)})`;
    dlqCursor = page.next_cursor;
  } catch (err) {
    showError(err.status === 403 ? new ApiError(403, "forbidden", `${err.message}. Dead letters need an admin key.`) : err);
    dlqCursor = null;
  }
  $("dlq-more").hidden = !dlqCursor;
  $("dlq-empty").hidden = $("letters").children.length > 0;
}

function letterRow(letter) {
  const tr = document.createElement("tr");
  const cells = [
    formatTime(letter.failed_at),
    letter.reason,
    letter.detail,
    `${letter.value.encoding === "base64" ? "(base64) " : ""}${String(letter.value.value).slice(0, 600)}`,
    letter.id,
  ];
  cells.forEach((text, i) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (i === 3) td.className = "value";
    tr.append(td);
  });
  return tr;
}

// ---------------------------------------------------------------- wiring

function start() {
  $("tz").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  $("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key); else sessionStorage.removeItem(KEY_STORAGE);
    showError(null);
    reload();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    reload();
  });

  const view = new URLSearchParams(location.search).get("view");
  const dlq = view === "dlq";
  $("search-view").hidden = dlq;
  $("dlq-view").hidden = !dlq;
  $(dlq ? "nav-dlq" : "nav-search").setAttribute("aria-current", "page");
  if (dlq) {
    $("dlq-filters").addEventListener("submit", (e) => { e.preventDefault(); showLetters(false); });
    $("dlq-more").addEventListener("click", () => showLetters(true));
    showLetters(false);
    return;
  }

  const state = stateFromUrl();
  fillForm(state);
  $("live").checked = state.live;
  $("f-range").addEventListener("change", showCustom);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); search(true); });
  $("more").addEventListener("click", loadMore);
  $("live").addEventListener("change", () => {
    history.replaceState(null, "", urlFor(current || readForm(), $("live").checked));
    if ($("live").checked) startLive(); else { stopLive(); setStatus(""); }
  });
  $("pause").addEventListener("click", togglePause);
  search(false);
  refreshStats();
  setInterval(refreshStats, STATS_EVERY_MS);
}

function reload() {
  if (new URLSearchParams(location.search).get("view") === "dlq") showLetters(false);
  else { search(true); refreshStats(); }
}

document.addEventListener("DOMContentLoaded", start);
