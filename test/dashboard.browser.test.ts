/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core, against a real
 * Ferry (API and worker on SQLite, listening on 127.0.0.1 behind a TCP proxy that can cut it
 * off) delivering to a real receiver that fails some postbacks. Nothing is mocked.
 *
 * Skipped with a message when no chromium binary is found (`apt-get install chromium`, or set
 * FERRY_CHROMIUM); .ci/run installs it, so in CI it runs.
 *
 * The totals, per-destination volumes and the failure list read routes that are being built in
 * parallel (GET /v1/stats, GET /v1/destinations/{id}/stats, GET /v1/postbacks search). Each
 * route is probed first; the assertions that need a missing one are skipped with a message
 * naming it, never passed silently.
 *
 * FERRY_SCREENSHOT=1 writes the 1366×768 screenshot to docs/dashboard.png (the README shows it);
 * otherwise it goes to a temp dir, so a test run leaves the checkout as it was.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type Page } from "playwright-core";
import { ADMIN_TOKEN, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";
import { repoPath } from "./support/paths.js";
import { CHROMIUM, SKIP_WITHOUT_CHROMIUM } from "./support/chromium.js";

const SKIP = SKIP_WITHOUT_CHROMIUM;
/** How often the page polls in this test (seconds), so the live updates show quickly. */
const POLL_S = 1;
/** Of the account's 10 order postbacks fail at the receiver with a final 400 (dead after one attempt). */
const ORDERS = 10;
const FAILING = new Set([1, 4, 7]);
const FLAKY = 4;

test("the dashboard in headless chromium", { skip: SKIP, timeout: 180_000 }, async (t) => {
  assert.ok(CHROMIUM, "CI=true but no chromium binary was found: .ci/run installs Debian's chromium package");
  let flakyUp = false;
  const receiver: Receiver = await startReceiver({
    respond: (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/orders") return JSON.parse(request.body).fail ? { status: 400, body: "no such order" } : { status: 200 };
      if (path === "/flaky") return flakyUp ? { status: 200 } : { status: 503, body: "down for maintenance" };
      return { status: 404 };
    },
  });
  const ferry: Pipeline = await startPipeline();
  await ferry.app.listen({ host: "127.0.0.1", port: 0 });
  const port = (ferry.app.server.address() as AddressInfo).port;
  // The browser reaches Ferry through this proxy, which the "API down" step cuts.
  const proxy: TcpProxy = await startTcpProxy({ host: "127.0.0.1", port });
  const shots = mkdtempSync(join(tmpdir(), "ferry-dashboard-"));
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close();
    await proxy.close();
    await ferry.stop();
    await receiver.close();
    rmSync(shots, { recursive: true, force: true });
  });

  // ---- the data: an account, its token, two destinations, postbacks pushed through the API ----
  const api = async (method: string, url: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await ferry.app.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
  const account = (await api("POST", "/v1/accounts", { name: "Acme" })).body;
  const token: string = (await api("POST", `/v1/accounts/${account.id}/tokens`, { name: "dashboard" })).body.token;
  // Orders: failures never disable it (0, which only the admin may set), so all 10 are tried.
  const orders = (await api("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/orders`, event_types: ["order.*"], failure_threshold: 0 })).body;
  // Flaky: disabled by endpoint health after 2 failed attempts; what is owed to it is held.
  const flaky = (await api("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/flaky`, event_types: ["flaky.*"], failure_threshold: 2 })).body;
  assert.ok(orders.id && flaky.id, "both destinations were made");
  // Busy: its partner answered 429 with Retry-After (issue 14), so it is paused for ten minutes.
  const busy = (await api("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/busy`, event_types: ["busy.*"] })).body;
  assert.equal(await ferry.backends.stores.accounts.pauseDestination(busy.id, Date.now() + 600_000, "http_429 with Retry-After: 600"), true);

  const push = async (type: string, objects: object[]) => {
    const res = await api("POST", `/v1/push?type=${type}`, objects, token);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return (res.body.postbacks as Array<{ id: string; index: number }>).sort((a, b) => a.index - b.index).map((p) => p.id);
  };
  const orderIds = await push("order.created", Array.from({ length: ORDERS }, (_, i) => ({ i, fail: FAILING.has(i) })));
  const failingIds = orderIds.filter((_, i) => FAILING.has(i));
  const flakyIds = await push("flaky.ping", Array.from({ length: FLAKY }, (_, i) => ({ i })));
  const stateOf = async (id: string) => (await api("GET", `/v1/postbacks/${id}`)).body.state as string;

  await eventually(async () => {
    const states = await Promise.all(orderIds.map(stateOf));
    return states.every((s, i) => s === (FAILING.has(i) ? "dead" : "delivered"));
  }, 20_000, "the order postbacks to be delivered, or dead for the failing ones");
  await eventually(async () => {
    const d = (await api("GET", `/v1/destinations/${flaky.id}`)).body;
    return d.enabled === false && (await Promise.all(flakyIds.map(stateOf))).every((s) => s === "held");
  }, 20_000, "the flaky destination to be disabled and its postbacks held");

  // ---- which of the routes being built in parallel this Ferry has ----
  const missing = async (url: string) => {
    const res = await api("GET", url, undefined, token);
    return res.status === 404 && res.body?.code === "not_found";
  };
  const noStats = await missing("/v1/stats");
  const noDestinationStats = await missing(`/v1/destinations/${orders.id}/stats`);
  const noSearch = await missing("/v1/postbacks?limit=1");

  browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const page: Page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/Failed to load resource|ERR_CONNECTION/.test(msg.text())) pageErrors.push(msg.text());
  });
  const url = `http://127.0.0.1:${proxy.port}/dashboard/?poll=${POLL_S}`;
  /** Waits until the element's text matches. */
  // Polled from here rather than with page.waitForFunction, which evaluates a string in the page
  // and so is refused by the dashboard's Content-Security-Policy (no eval), as it should be.
  const until = async <T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeout = 15_000): Promise<T> => {
    const deadline = Date.now() + timeout;
    let value = await read();
    while (!ok(value)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; it reads ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 100));
      value = await read();
    }
    return value;
  };
  /** Waits until the (first) element's text matches. */
  const textOf = (selector: string, pattern: RegExp, timeout = 15_000) =>
    until(() => page.locator(selector).first().textContent({ timeout: 1_000 }).catch(() => null), (text) => text !== null && pattern.test(text), `${selector} to match ${pattern}`, timeout);
  const rowCount = (selector: string, n: number) => until(() => page.locator(selector).count(), (count) => count === n, `${n} rows of ${selector}`);

  await t.test("the page and uPlot are served by Ferry itself, without a token", async () => {
    for (const file of ["", "app.js", "style.css", "uPlot.esm.js", "uPlot.min.css"]) {
      const res = await fetch(`http://127.0.0.1:${port}/dashboard/${file}`);
      assert.equal(res.status, 200, file);
      assert.equal(res.headers.get("cache-control"), "no-cache");
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/dashboard/../config.json`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/dashboard/nope.js`)).status, 404);
    const redirect = await fetch(`http://127.0.0.1:${port}/dashboard`, { redirect: "manual" });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/dashboard/");
  });

  await t.test("a wrong token shows a clear message and stays on the sign-in form", async () => {
    await page.goto(url);
    await page.getByLabel("API token").fill("ferry_live_not-a-real-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await textOf("#login-error", /That token was not accepted: The token is not valid/);
    assert.equal(await page.locator("#app").isHidden(), true);
  });

  await t.test("signing in with the account token shows its destinations, the disabled one marked", async () => {
    await page.getByLabel("API token").fill(token);
    await page.keyboard.press("Enter"); // the form works from the keyboard
    await page.locator("#app").waitFor({ state: "visible" });
    await textOf(`#destinations tr[data-id="${orders.id}"]`, /Enabled/);
    await textOf(`#destinations tr[data-id="${flaky.id}"]`, /Disabled/);
    await textOf(`#destinations tr[data-id="${flaky.id}"]`, /2 failed attempts/);
    assert.equal(await page.locator(`#destinations tr[data-id="${orders.id}"] button:has-text("Re-enable")`).isHidden(), true);
    await textOf(`#destinations tr[data-id="${busy.id}"] td:nth-child(2)`, /^Pauseduntil .+: http_429 with Retry-After: 600$/);
    assert.equal(await page.evaluate('sessionStorage.getItem("ferry.token")'), token, "the token is kept in the tab's sessionStorage");
  });

  await t.test("the totals match what was sent", async (st) => {
    if (noStats) {
      // What the page does meanwhile: says so, without breaking the other panels.
      await textOf("#total-delivered", /^n\/a$/);
      await textOf("#overview-note", /not available/);
      return st.skip("GET /v1/stats route not built yet: the totals show n/a");
    }
    await textOf("#total-delivered", new RegExp(`^${ORDERS - FAILING.size}$`));
    await textOf("#total-dead", new RegExp(`^${FAILING.size}$`));
  });

  await t.test("the per-destination volume and success rate match what was sent", async (st) => {
    if (noDestinationStats) {
      await textOf(`#destinations tr[data-id="${orders.id}"] td:nth-child(3)`, /^n\/a$/);
      await textOf("#destinations-note", /not available/);
      return st.skip("GET /v1/destinations/{id}/stats route not built yet: those columns show n/a");
    }
    const row = `#destinations tr[data-id="${orders.id}"]`;
    await textOf(`${row} td:nth-child(3)`, new RegExp(`^${ORDERS}$`));
    await textOf(`${row} td:nth-child(4)`, /^70\.0 %$/);
    await textOf(`${row} td:nth-child(5)`, /400/);
  });

  await t.test("the failure list holds exactly the dead postbacks, and one opens with its attempt", async (st) => {
    if (noSearch) {
      await textOf("#failures-note", /not available/);
      return st.skip("GET /v1/postbacks search route not built yet: the list says not available");
    }
    await page.getByLabel("Destination", { exact: true }).selectOption(orders.id);
    await page.getByLabel("State", { exact: true }).selectOption("dead");
    await rowCount("#failures tbody tr", FAILING.size);
    const listed = await page.locator("#failures tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
    assert.deepEqual(new Set(listed), new Set(failingIds));
    // A row opens the postback with its attempt. (What `q` matches is the search route's to
    // define, so no search text is assumed here.)
    await page.locator(`#failures tr[data-id="${failingIds[0]}"] button`).click();
    await textOf("#detail-title", new RegExp(failingIds[0]!));
    await textOf("#attempts tbody", /400/);
    await page.keyboard.press("Escape");
    await page.getByLabel("State", { exact: true }).selectOption("failures");
    await page.getByLabel("Destination", { exact: true }).selectOption("");
  });

  await t.test("a failed postback opens by its id with every attempt", async () => {
    await page.getByLabel("Open a postback by id").fill(failingIds[1]!);
    await page.getByRole("button", { name: "Open", exact: true }).click();
    await page.locator("#detail").waitFor({ state: "visible" });
    await textOf("#detail-title", new RegExp(failingIds[1]!));
    await textOf("#detail-body", /dead/);
    assert.equal(await page.locator("#attempts tbody tr").count(), 1, "one attempt: a 400 is final");
    await textOf("#attempts tbody tr", /400/);
    await textOf("#attempts tbody tr", /no such order/);
    await page.keyboard.press("Escape");
    await page.locator("#detail").waitFor({ state: "hidden" });
    // An unknown id says so.
    await page.getByLabel("Open a postback by id").fill("pb_01HZZZZZZZZZZZZZZZZZZZZZZZ");
    await page.getByRole("button", { name: "Open", exact: true }).click();
    await textOf("#detail-body", /No postback/);
    await page.keyboard.press("Escape");
    await page.getByLabel("Open a postback by id").fill("");
  });

  await t.test("re-enabling the disabled destination from the page releases its held postbacks", async () => {
    flakyUp = true;
    const row = page.locator(`#destinations tr[data-id="${flaky.id}"]`);
    await row.getByRole("button", { name: `Re-enable destination ${flaky.id}` }).click();
    await textOf("#action-status", new RegExp(`${flaky.id} re-enabled`));
    await textOf(`#destinations tr[data-id="${flaky.id}"] td:nth-child(2)`, /Enabled/);
    await eventually(async () => (await Promise.all(flakyIds.map(stateOf))).every((s) => s === "delivered"), 20_000, "the held postbacks to be delivered");
    const delivered = receiver.requests.filter((r) => new URL(r.url).pathname === "/flaky" && r.headers["webhook-id"]);
    assert.deepEqual(new Set(flakyIds), new Set(delivered.map((r) => r.headers["webhook-id"])), "each held postback reached the receiver");
  });

  await t.test("replay since… sends the dead postbacks again", async () => {
    const row = page.locator(`#destinations tr[data-id="${orders.id}"]`);
    await row.getByText("Replay since…").click();
    await row.getByRole("button", { name: "Replay" }).click();
    await textOf("#action-status", new RegExp(`${FAILING.size} sent again`));
  });

  await t.test("a 1366×768 screenshot", async () => {
    await page.locator(`#destinations tr[data-id="${orders.id}"] details`).evaluate((d) => d.removeAttribute("open"));
    await page.evaluate("document.activeElement?.blur()");
    const path = process.env["FERRY_SCREENSHOT"] ? repoPath("docs", "dashboard.png") : join(shots, "dashboard.png");
    await page.screenshot({ path });
    assert.ok(existsSync(path));
  });

  await t.test("polling pauses while the tab is hidden and resumes when it is shown", async () => {
    // Headless chromium has no real tab switching: the page is told it is hidden the way the
    // browser tells it, a visibilitychange event with document.hidden true.
    const calls: string[] = [];
    const onRequest = (request: { url(): string }) => {
      if (new URL(request.url()).pathname.startsWith("/v1/")) calls.push(request.url());
    };
    await page.evaluate(`Object.defineProperty(document, "hidden", { configurable: true, get: () => true }); document.dispatchEvent(new Event("visibilitychange"))`);
    await new Promise((r) => setTimeout(r, 1_000)); // a poll already in flight may finish
    page.on("request", onRequest);
    await new Promise((r) => setTimeout(r, 3 * POLL_S * 1_000 + 500));
    assert.deepEqual(calls, [], "no API call while hidden");
    await page.evaluate(`delete document.hidden; document.dispatchEvent(new Event("visibilitychange"))`);
    await until(async () => calls.length, (n) => n > 0, "polling to resume once shown", 5_000);
    page.off("request", onRequest);
  });

  await t.test("API down: a banner appears, and goes once Ferry is back", async () => {
    await proxy.cut();
    await page.locator("#banner").waitFor({ state: "visible", timeout: 15_000 });
    await textOf("#banner", /can't load right now.*recovers by itself/);
    // The last good data stays on the page meanwhile.
    assert.equal(await page.locator(`#destinations tr[data-id="${orders.id}"]`).count(), 1);
    await proxy.restore();
    await page.locator("#banner").waitFor({ state: "hidden", timeout: 15_000 });
    await textOf("#updated", /^Updated/);
  });

  await t.test("the admin token signs in too, with an account picker", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    assert.equal(await page.evaluate('sessionStorage.getItem("ferry.token")'), null, "signing out forgets the token");
    await page.getByLabel("API token").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByLabel("Account", { exact: true }).waitFor({ state: "visible" });
    // The only account is picked, so its destinations show.
    assert.equal(await page.getByLabel("Account", { exact: true }).inputValue(), account.id);
    await textOf(`#destinations tr[data-id="${orders.id}"]`, /Enabled/);
  });

  assert.deepEqual(pageErrors, [], "no script errors on the page");
});
