// Ferry's dashboard: plain ES modules, no build step. Reads the API with the token pasted at
// sign-in (kept in sessionStorage, so it leaves with the tab) and polls every few seconds while
// the tab is visible. Every value from the API is put on the page as text (textContent), never
// as HTML.
import uPlot from "./uPlot.esm.js";

/** How often the page polls, in ms; `?poll=2` (seconds) overrides it, e.g. for the browser tests. */
const POLL_MS = Math.max(1, Number(new URLSearchParams(location.search).get("poll")) || 5) * 1000;
/** The API is this page's origin; relative, so a path prefix in front of Ferry is kept. */
const API_BASE = new URL("../", location.href);
const TOKEN_KEY = "ferry.token";
const RANGES = {
  "1h": { ms: 3600e3, bucket: "minute" },
  "24h": { ms: 24 * 3600e3, bucket: "hour" },
  "7d": { ms: 7 * 24 * 3600e3, bucket: "hour" },
};
const MAX_ROWS = 50;

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? "",
  /** "admin" or "account": what the token turned out to be. */
  kind: "",
  accountId: "",
  range: "1h",
  destinations: [],
};

// ---- talking to the API ----------------------------------------------------------------------

/** An answer outside 2xx, with the problem+json code and detail Ferry sends. */
class ApiProblem extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}
/** No answer at all: Ferry is down, or the network is. */
class Unreachable extends Error {}

async function call(method, path, body) {
  let res;
  try {
    res = await fetch(new URL(path, API_BASE), {
      method,
      headers: { authorization: `Bearer ${state.token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: "no-store",
    });
  } catch (err) {
    throw new Unreachable(`Ferry cannot be reached (${err.message}).`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page, say: the status says enough.
  }
  if (res.ok) return json;
  throw new ApiProblem(res.status, json?.code ?? `http_${res.status}`, json?.detail ?? `HTTP ${res.status} ${res.statusText}`);
}

/** Whether the failure means the data can't load now (banner), rather than a problem with this request. */
const isDown = (err) => err instanceof Unreachable || (err instanceof ApiProblem && err.status >= 500);
/** A route this Ferry does not have (an older version): its panel says "not available". */
const isMissingRoute = (err) => err instanceof ApiProblem && err.status === 404 && err.code === "not_found";
const isUnauthorized = (err) => err instanceof ApiProblem && err.status === 401;

// ---- small DOM helpers -----------------------------------------------------------------------

/** An element with attributes and children; strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));
const fmtPct = (num, den) => (den > 0 ? `${((100 * num) / den).toFixed(1)} %` : "–");
const fmtMs = (ms) => (ms === null || ms === undefined ? "–" : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString("en-GB") : d.toLocaleString("en-GB");
}
function note(id, text) {
  const el = $(id);
  el.textContent = text ?? "";
  el.hidden = !text;
}
function announce(text) {
  $("action-status").textContent = text;
}

// ---- banner: shown while data can't load, gone once it loads again ----------------------------

function showBanner(err) {
  const banner = $("banner");
  const why = err instanceof ApiProblem ? `Ferry answered ${err.status} ${err.code}: ${err.message}` : err.message;
  banner.textContent = `The dashboard's data can't load right now. ${why} Trying again every ${POLL_MS / 1000} s; the page recovers by itself.`;
  banner.hidden = false;
}
function hideBanner() {
  $("banner").hidden = true;
  $("banner").textContent = "";
}

// ---- sign-in ---------------------------------------------------------------------------------

/** Finds out what the token is: the admin's (may list accounts) or an account's (403 admin_only there). */
async function identify() {
  try {
    const page = await call("GET", "v1/accounts?limit=100");
    state.kind = "admin";
    fillAccounts(page.data);
  } catch (err) {
    if (!(err instanceof ApiProblem && err.code === "admin_only")) throw err;
    state.kind = "account";
    state.accountId = "";
    $("account-field").hidden = true;
  }
}

function fillAccounts(accounts) {
  const select = $("account");
  const keep = state.accountId || (accounts.length === 1 ? accounts[0].id : "");
  // Unchanged: leave the control alone, as it may be open or focused.
  const shown = [...select.options].map((o) => `${o.value} ${o.textContent}`).slice(1).join("\n");
  if (shown && shown === accounts.map((a) => `${a.id} ${a.name} (${a.id})`).join("\n")) return;
  select.replaceChildren(
    h("option", { value: "" }, "All accounts"),
    ...accounts.map((a) => h("option", { value: a.id }, `${a.name} (${a.id})`)),
  );
  select.value = accounts.some((a) => a.id === keep) ? keep : "";
  state.accountId = select.value;
  $("account-field").hidden = false;
}

async function signIn(token) {
  state.token = token;
  await identify();
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  $("app").hidden = false;
  tick();
}

function signOut(message = "") {
  clearTimeout(timer);
  state.token = "";
  state.kind = "";
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("login").hidden = false;
  hideBanner();
  $("login-error").textContent = message;
  $("token").value = "";
  $("token").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  const error = $("login-error");
  if (!token) {
    error.textContent = "Paste a token first.";
    return;
  }
  error.textContent = "Checking the token…";
  try {
    await signIn(token);
    error.textContent = "";
  } catch (err) {
    state.token = "";
    error.textContent = isUnauthorized(err)
      ? `That token was not accepted: ${err.message}`
      : err instanceof Unreachable || isDown(err)
        ? `Ferry cannot be reached right now, so the token could not be checked (${err.message}). Try again shortly.`
        : `Signing in failed: ${err.message}`;
  }
});
$("signout").addEventListener("click", () => signOut());
$("controls").addEventListener("submit", (event) => event.preventDefault());
$("account").addEventListener("change", () => {
  state.accountId = $("account").value;
  tick();
});
$("range").addEventListener("change", () => {
  state.range = $("range").value;
  tick();
});

// ---- polling: every POLL_MS while the tab is visible, never two refreshes at once ------------

let timer;
let running = false;
let again = false;

function schedule() {
  clearTimeout(timer);
  if (document.hidden || !state.token) return;
  timer = setTimeout(tick, POLL_MS);
}

async function tick() {
  if (!state.token) return;
  if (running) {
    again = true; // a filter changed mid-refresh: refresh once more right after
    return;
  }
  running = true;
  clearTimeout(timer);
  try {
    await refresh();
  } finally {
    running = false;
    if (again) {
      again = false;
      tick();
    } else schedule();
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) clearTimeout(timer);
  else tick();
});

async function refresh() {
  // The admin's account list is read again too: an account made since shows up.
  const steps = [loadOverview(), loadDestinations(), loadFailures()];
  if (state.kind === "admin") steps.push(call("GET", "v1/accounts?limit=100").then((page) => fillAccounts(page.data)));
  const results = await Promise.allSettled(steps);
  const errors = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  if (errors.some(isUnauthorized)) {
    signOut(`Signed out: ${errors.find(isUnauthorized).message}`);
    return;
  }
  const down = errors.find(isDown);
  if (down) showBanner(down);
  else hideBanner();
  // A bug in a panel must not stop the polling; it shows in the console.
  for (const err of errors) if (!isDown(err) && !(err instanceof ApiProblem)) console.error(err);
  $("updated").textContent = down
    ? `Last tried ${new Date().toLocaleTimeString("en-GB")} · live, every ${POLL_MS / 1000} s`
    : `Updated ${new Date().toLocaleTimeString("en-GB")} · live, every ${POLL_MS / 1000} s`;
}

/** The time window and bucket of the range picked, as query parameters. */
function rangeQuery() {
  const { ms, bucket } = RANGES[state.range];
  const until = new Date();
  return { since: new Date(until.getTime() - ms).toISOString(), until: until.toISOString(), bucket };
}
/** account_id for the admin when one is picked; an account token's calls are its own account's. */
const accountQuery = () => (state.kind === "admin" && state.accountId ? { account_id: state.accountId } : {});

/**
 * Runs a panel's load: a missing route shows "not available" in the panel, a problem with the
 * request shows in the panel, and a failure to load at all is passed up (the banner).
 */
async function panel(noteId, load, unavailable) {
  try {
    await load();
  } catch (err) {
    if (isMissingRoute(err)) {
      unavailable();
      return;
    }
    if (isDown(err) || isUnauthorized(err) || !(err instanceof ApiProblem)) throw err;
    note(noteId, `Could not load: ${err.message}`);
  }
}

// ---- overview cards and the volume chart -------------------------------------------------------

const sum = (buckets, key) => buckets.reduce((n, b) => n + (Number(b[key]) || 0), 0);

async function loadOverview() {
  await panel(
    "overview-note",
    async () => {
      const stats = await call("GET", `v1/stats?${new URLSearchParams({ ...accountQuery(), ...rangeQuery() })}`);
      const buckets = stats.buckets ?? [];
      const delivered = sum(buckets, "delivered");
      const retry = sum(buckets, "retry");
      const dead = sum(buckets, "dead");
      $("total-delivered").textContent = fmtInt(delivered);
      $("total-retry").textContent = fmtInt(retry);
      $("total-dead").textContent = fmtInt(dead);
      // Attempts in the range that delivered: falls as soon as a partner starts failing.
      $("success-rate").textContent = fmtPct(delivered, delivered + retry + dead);
      const l = stats.latency_ms;
      $("latency").textContent = l ? `${fmtMs(l.p50)} / ${fmtMs(l.p95)} / ${fmtMs(l.p99)}` : "–";
      const q = stats.queue;
      // The oldest due entry's age, when the API gives it (how far delivery lags).
      const age = q?.oldest_age_ms ?? q?.oldest_due_age_ms;
      $("queue-depth").textContent = q ? `${fmtInt(q.ready)} / ${fmtInt(q.waiting)}${age != null ? ` · oldest ${fmtMs(age)}` : ""}` : "–";
      note("overview-note", "");
      note("chart-note", "");
      drawChart(buckets);
    },
    () => {
      for (const id of ["total-delivered", "total-retry", "total-dead", "success-rate", "latency", "queue-depth"]) $(id).textContent = "n/a";
      note("overview-note", "Totals are not available: this Ferry has no GET /v1/stats route.");
      note("chart-note", "The volume chart is not available: this Ferry has no GET /v1/stats route.");
    },
  );
}

let chart;
function drawChart(buckets) {
  const xs = buckets.map((b) => Math.floor(new Date(b.start).getTime() / 1000));
  const data = [xs, buckets.map((b) => b.delivered ?? 0), buckets.map((b) => b.retry ?? 0), buckets.map((b) => b.dead ?? 0)];
  const box = $("chart");
  const totals = `${sum(buckets, "delivered")} delivered, ${sum(buckets, "retry")} retrying, ${sum(buckets, "dead")} dead`;
  box.setAttribute("aria-label", `Delivery volume per ${RANGES[state.range].bucket} over the ${state.range === "1h" ? "last hour" : state.range === "24h" ? "last 24 hours" : "last 7 days"}: ${totals}.`);
  if (chart) {
    chart.setData(data);
    return;
  }
  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  // Each series has its own dash pattern as well as its colour, for colour-blind readers.
  const series = (label, name, dash) => ({ label, stroke: colour(name), width: 2, dash, fill: colour(name) + "22", points: { show: false } });
  chart = new uPlot(
    {
      width: Math.max(300, box.clientWidth),
      height: 230,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { label: "postbacks" }],
      series: [{}, series("Delivered", "--delivered", []), series("Retrying", "--retry", [6, 4]), series("Dead", "--dead", [2, 3])],
    },
    data,
    box,
  );
  new ResizeObserver(() => chart.setSize({ width: Math.max(300, box.clientWidth), height: 230 })).observe(box);
}

// ---- destinations ------------------------------------------------------------------------------

/** Rows by destination id, kept across polls so focus and an open "Replay since…" form survive. */
const destinationRows = new Map();

async function loadDestinations() {
  if (state.kind === "admin" && !state.accountId) {
    state.destinations = [];
    renderDestinations([], new Map());
    note("destinations-note", "Choose an account above to list its destinations.");
    fillDestinationFilter();
    return;
  }
  const page = await call("GET", `v1/destinations?${new URLSearchParams({ ...accountQuery(), limit: "100" })}`);
  state.destinations = page.data.slice(0, MAX_ROWS);
  fillDestinationFilter();
  // One stats call per destination shown; a missing route leaves those columns "n/a".
  const stats = new Map();
  let missing = false;
  await Promise.all(
    state.destinations.map(async (d) => {
      try {
        stats.set(d.id, await call("GET", `v1/destinations/${encodeURIComponent(d.id)}/stats?${new URLSearchParams(rangeQuery())}`));
      } catch (err) {
        if (isMissingRoute(err)) missing = true;
        else throw err;
      }
    }),
  );
  renderDestinations(state.destinations, stats);
  const more = page.next_after || page.data.length > MAX_ROWS ? ` Showing the first ${state.destinations.length}.` : "";
  note(
    "destinations-note",
    state.destinations.length === 0
      ? "No destinations yet."
      : (missing ? "Volume, success rate, last error and queue are not available: this Ferry has no GET /v1/destinations/{id}/stats route." : "") + more,
  );
}

function renderDestinations(list, stats) {
  const tbody = $("destinations").tBodies[0];
  const ids = new Set(list.map((d) => d.id));
  for (const [id, row] of destinationRows) {
    if (!ids.has(id)) {
      row.tr.remove();
      destinationRows.delete(id);
    }
  }
  for (const d of list) {
    let row = destinationRows.get(d.id);
    if (!row) {
      row = destinationRow(d);
      destinationRows.set(d.id, row);
    }
    tbody.append(row.tr); // appending an element already there keeps its place in order
    updateDestinationRow(row, d, stats.get(d.id));
  }
}

function destinationRow(d) {
  const cells = {
    target: h("td", { class: "url" }),
    status: h("td"),
    volume: h("td", { class: "num" }),
    success: h("td", { class: "num" }),
    lastError: h("td"),
    queue: h("td", { class: "num" }),
  };
  const reenable = h("button", { type: "button", class: "secondary", onclick: () => reenableDestination(d.id, reenable) }, "Re-enable");
  const since = h("input", { type: "datetime-local", id: `replay-${d.id}`, required: true, step: 1 });
  const replay = h(
    "details",
    { class: "replay" },
    h("summary", {}, "Replay since…"),
    h(
      "form",
      { onsubmit: (e) => (e.preventDefault(), replayDestination(d.id, since, e.submitter)) },
      h("label", { for: `replay-${d.id}` }, "Send again its failed and dead postbacks created since"),
      since,
      h("button", { type: "submit" }, "Replay"),
    ),
  );
  // Default: the start of the range shown, in local time as datetime-local wants it.
  const start = new Date(Date.now() - RANGES[state.range].ms);
  since.value = new Date(start.getTime() - start.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
  const tr = h("tr", { "data-id": d.id }, cells.target, cells.status, cells.volume, cells.success, cells.lastError, cells.queue, h("td", {}, h("div", { class: "actions" }, reenable, replay)));
  reenable.setAttribute("aria-label", `Re-enable destination ${d.id}`);
  return { tr, cells, reenable };
}

function updateDestinationRow(row, d, s) {
  const { cells } = row;
  cells.target.replaceChildren(h("span", { class: "mono" }, `${d.method} ${d.url}`), h("br"), h("span", { class: "small mono" }, d.id));
  const enabled = s ? s.enabled : d.enabled;
  const reason = (s ? s.disabled_reason : d.disabled_reason) ?? "";
  // Paused by its partner (429/503 with Retry-After): nothing is sent until paused_until.
  const paused = enabled && d.paused_until && Date.parse(d.paused_until) > Date.now();
  cells.status.replaceChildren(
    h("span", { class: `badge ${enabled ? (paused ? "paused" : "enabled") : "disabled"}` }, enabled ? (paused ? "Paused" : "Enabled") : "Disabled"),
    enabled || !reason ? "" : h("div", { class: "small" }, reason),
    paused ? h("div", { class: "small" }, `until ${fmtTime(d.paused_until)}: ${d.pause_reason ?? "its partner asked"}`) : "",
  );
  row.reenable.hidden = enabled;
  if (!s) {
    for (const key of ["volume", "success", "lastError", "queue"]) cells[key].textContent = "n/a";
    return;
  }
  const buckets = s.buckets ?? [];
  const delivered = sum(buckets, "delivered");
  const failed = sum(buckets, "retry") + sum(buckets, "dead");
  cells.volume.textContent = fmtInt(delivered + failed);
  cells.success.textContent = fmtPct(delivered, delivered + failed);
  const e = s.last_error;
  cells.lastError.replaceChildren(
    e ? h("span", {}, `${e.status_code ?? ""} ${e.error ?? ""}`.trim() || "error", h("br"), h("span", { class: "small" }, fmtTime(e.at))) : "–",
  );
  cells.queue.textContent = fmtInt(s.queue_depth);
}

async function reenableDestination(id, button) {
  button.disabled = true;
  try {
    await call("PATCH", `v1/destinations/${encodeURIComponent(id)}`, { enabled: true });
    announce(`Destination ${id} re-enabled; its held postbacks are being delivered.`);
    await tick();
  } catch (err) {
    announce(`Could not re-enable ${id}: ${err.message}`);
  } finally {
    button.disabled = false;
  }
}

async function replayDestination(id, input, button) {
  if (!input.value) {
    announce("Pick the time to replay from.");
    input.focus();
    return;
  }
  if (button) button.disabled = true;
  try {
    const since = new Date(input.value).toISOString();
    const res = await call("POST", `v1/destinations/${encodeURIComponent(id)}/replay`, { since });
    announce(`Replay of ${id} since ${fmtTime(since)}: ${res.replayed} sent again, ${res.skipped} skipped.`);
    tick();
  } catch (err) {
    announce(`Could not replay ${id}: ${err.message}`);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- failures ----------------------------------------------------------------------------------

function fillDestinationFilter() {
  const select = $("failure-destination");
  const keep = select.value;
  const ids = state.destinations.map((d) => d.id);
  const current = [...select.options].map((o) => o.value).slice(1);
  if (current.join() === ids.join()) return; // unchanged: leave the control alone while it may be in use
  select.replaceChildren(h("option", { value: "" }, "All"), ...state.destinations.map((d) => h("option", { value: d.id }, `${d.id} ${d.url}`)));
  select.value = ids.includes(keep) ? keep : "";
}

let failuresShown = "";

async function loadFailures() {
  await panel(
    "failures-note",
    async () => {
      const picked = $("failure-state").value;
      const states = picked === "failures" ? ["dead", "failed"] : [picked];
      const filters = { ...accountQuery(), since: rangeQuery().since, limit: String(MAX_ROWS) };
      const q = $("failure-q").value.trim();
      if (q) filters.q = q;
      const destination = $("failure-destination").value;
      if (destination) filters.destination_id = destination;
      // "Dead and retrying" is two states: one query each, merged newest first.
      const pages = await Promise.all(states.map((s) => call("GET", `v1/postbacks?${new URLSearchParams({ ...filters, state: s })}`)));
      const rows = pages
        .flatMap((p) => p.data)
        .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1))
        .slice(0, MAX_ROWS);
      renderFailures(rows);
      note("failures-note", rows.length === 0 ? "No failures in this range." : rows.length === MAX_ROWS ? `The newest ${MAX_ROWS}; search to narrow.` : "");
    },
    () => {
      renderFailures([]);
      note("failures-note", "The failure list is not available: this Ferry has no GET /v1/postbacks search route. Open a postback by its id below.");
    },
  );
}

function renderFailures(rows) {
  // Rebuilt only when something changed, and focus put back on the same postback.
  const signature = JSON.stringify(rows);
  if (signature === failuresShown) return;
  failuresShown = signature;
  const tbody = $("failures").tBodies[0];
  const focused = tbody.contains(document.activeElement) ? document.activeElement.closest("tr")?.dataset.id : undefined;
  tbody.replaceChildren(
    ...rows.map((p) => {
      const last = p.last_attempt;
      return h(
        "tr",
        { "data-id": p.id },
        h("td", {}, fmtTime(p.created_at)),
        h("td", {}, h("button", { type: "button", class: "link mono", onclick: (e) => openPostback(p.id, e.currentTarget) }, p.id), h("div", { class: "small mono" }, p.destination_id ?? "")),
        h("td", {}, h("span", { class: `badge ${p.state}` }, p.state)),
        h("td", { class: "num" }, fmtInt(p.attempts)),
        h("td", {}, last ? `${last.status_code ?? ""} ${last.error ?? ""}`.trim() || "–" : "–"),
      );
    }),
  );
  if (focused) tbody.querySelector(`tr[data-id="${CSS.escape(focused)}"] button`)?.focus();
}

let searchDelay;
$("failure-q").addEventListener("input", () => {
  clearTimeout(searchDelay);
  searchDelay = setTimeout(tick, 300);
});
$("failure-filters").addEventListener("submit", (e) => (e.preventDefault(), tick()));
$("failure-state").addEventListener("change", () => tick());
$("failure-destination").addEventListener("change", () => tick());
$("lookup").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("lookup-id").value.trim();
  if (id) openPostback(id, $("lookup-id"));
});

// ---- one postback with every attempt -----------------------------------------------------------

let opener;
async function openPostback(id, from) {
  opener = from;
  const dialog = $("detail");
  const body = $("detail-body");
  $("detail-title").textContent = `Postback ${id}`;
  body.replaceChildren(h("p", {}, "Loading…"));
  if (!dialog.open) dialog.showModal();
  try {
    renderPostback(await call("GET", `v1/postbacks/${encodeURIComponent(id)}`));
  } catch (err) {
    body.replaceChildren(h("p", { class: "error", role: "alert" }, err instanceof ApiProblem && err.status === 404 ? `No postback ${id}: ${err.message}` : `Could not load it: ${err.message}`));
  }
}

function renderPostback(p) {
  const fact = (label, value) => [h("dt", {}, label), h("dd", {}, value ?? "–")];
  const attempts = p.attempts ?? [];
  const data = JSON.stringify(p.data, null, 2);
  $("detail-body").replaceChildren(
    h(
      "dl",
      { class: "facts" },
      fact("State", h("span", { class: `badge ${p.state}` }, p.state)),
      fact("Endpoint", h("span", { class: "mono" }, `${p.endpoint.method} ${p.endpoint.url}`)),
      p.endpoint.destination_id ? fact("Destination", h("span", { class: "mono" }, p.endpoint.destination_id)) : [],
      fact("Created", fmtTime(p.created_at)),
      fact("Updated", fmtTime(p.updated_at)),
      fact("Next attempt", fmtTime(p.next_attempt_at)),
      fact("Reason", p.reason),
    ),
    h(
      "table",
      { class: "list", id: "attempts" },
      h("caption", { class: "visually-hidden" }, `${attempts.length} attempts`),
      h("thead", {}, h("tr", {}, ["#", "Started", "Took", "Status", "Error", "URL", "Response"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        attempts.map((a) =>
          h(
            "tr",
            {},
            h("td", { class: "num" }, a.attempt),
            h("td", {}, fmtTime(a.started_at)),
            h("td", { class: "num" }, fmtMs(a.duration_ms)),
            h("td", {}, a.status_code ?? "–"),
            h("td", {}, [a.error, a.error_message].filter(Boolean).join(": ") || "–"),
            h("td", { class: "url mono" }, a.url),
            h("td", { class: "mono small" }, a.response_body ?? ""),
          ),
        ),
      ),
    ),
    attempts.length === 0 ? h("p", { class: "note" }, "No attempt yet.") : "",
    h("h3", {}, "Data"),
    h("pre", {}, data.length > 4000 ? data.slice(0, 4000) + "\n…" : data),
  );
}

$("detail-close").addEventListener("click", () => $("detail").close());
// Back to where the user was, as a dialog should.
$("detail").addEventListener("close", () => opener?.focus());

// ---- start -----------------------------------------------------------------------------------

/** A reload keeps the tab's token; while Ferry is down it keeps trying rather than signing out. */
function resume() {
  signIn(state.token).catch((err) => {
    if (!isDown(err)) return signOut(isUnauthorized(err) ? `That token was not accepted: ${err.message}` : `Could not sign in again: ${err.message}`);
    showBanner(err);
    setTimeout(resume, POLL_MS);
  });
}
if (state.token) {
  resume();
} else {
  $("login").hidden = false;
  $("token").focus();
}
