/**
 * /docs in a real browser (Debian's chromium via playwright-core) against a real Ferry on a
 * socket: Swagger UI renders the document's operations under its tags with its own
 * Content-Security-Policy, loads nothing from another origin, and reports no CSP violation or
 * script error. Skipped without chromium, except in CI (as the dashboard's browser test).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { startPipeline } from "./support/harness.js";
import { CHROMIUM, SKIP_WITHOUT_CHROMIUM } from "./support/chromium.js";

test("/docs renders the API in headless chromium, from Ferry alone, within its CSP", { skip: SKIP_WITHOUT_CHROMIUM, timeout: 60_000 }, async (t) => {
  assert.ok(CHROMIUM, "CI=true but no chromium binary was found: .ci/run installs Debian's chromium package");
  const p = await startPipeline({}, { worker: false });
  t.after(() => p.stop());
  await p.app.listen({ host: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(p.app.server.address() as AddressInfo).port}`;

  const browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems: string[] = [];
  const elsewhere: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) elsewhere.push(r.url());
  });
  // A string, evaluated in the page (the test is compiled without the DOM's types).
  await page.addInitScript({ content: `document.addEventListener("securitypolicyviolation", (e) => console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));` });

  await page.goto(`${base}/docs`);
  await page.waitForSelector(".opblock", { timeout: 20_000 });
  const tags = await page.locator(".opblock-tag").evaluateAll((els) => els.map((e) => e.getAttribute("data-tag")));
  for (const tag of ["ingest", "push", "events", "accounts", "destinations", "postbacks"]) assert.ok(tags.includes(tag), `the ${tag} section is shown (got ${tags.join(", ")})`);
  const paths = await page.locator(".opblock-summary-path").evaluateAll((els) => els.map((e) => e.getAttribute("data-path")));
  assert.ok(paths.includes("/v1/events/query"), "operations are listed by path");
  assert.equal(await page.locator(".authorize").count(), 1, "the Authorize button takes a bearer token");
  assert.deepEqual(elsewhere, [], "nothing is loaded from another origin");
  assert.deepEqual(problems, [], "no CSP violation and no script error");
});
