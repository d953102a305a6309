/**
 * The dashboard's files as Ferry serves them, without a browser (so this runs where chromium is
 * missing too; test/dashboard.browser.test.ts drives the page itself).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { startPipeline } from "./support/harness.js";

test("GET /dashboard/ serves the page, its script and style, and uPlot from node_modules, with no token", async (t) => {
  const p = await startPipeline({}, { worker: false });
  t.after(() => p.stop());
  const get = (url: string) => p.app.inject({ method: "GET", url });

  const page = await get("/dashboard/");
  assert.equal(page.statusCode, 200);
  assert.match(page.headers["content-type"] as string, /^text\/html/);
  assert.match(page.body, /<script type="module" src="app\.js"><\/script>/);
  // Nothing from another origin: the dashboard must work with no internet.
  assert.doesNotMatch(page.body, /(?:src|href)="(?:https?:)?\/\//);
  assert.match(page.headers["content-security-policy"] as string, /script-src 'self';.*connect-src 'self'/);
  assert.equal(page.headers["x-content-type-options"], "nosniff");

  for (const [file, type] of [["app.js", /^text\/javascript/], ["style.css", /^text\/css/], ["uPlot.min.css", /^text\/css/]] as const) {
    const res = await get(`/dashboard/${file}`);
    assert.equal(res.statusCode, 200, file);
    assert.match(res.headers["content-type"] as string, type, file);
  }
  const uplot = await get("/dashboard/uPlot.esm.js");
  assert.equal(uplot.body, readFileSync(createRequire(import.meta.url).resolve("uplot/dist/uPlot.esm.js"), "utf8"), "uPlot is the installed package's own file");

  const bare = await get("/dashboard");
  assert.equal(bare.statusCode, 301, "the page's links are relative, so it needs the trailing slash");
  assert.equal(bare.headers["location"], "/dashboard/");
});

test("only the dashboard's own files are served: anything else under /dashboard/ is 404", async (t) => {
  const p = await startPipeline({}, { worker: false });
  t.after(() => p.stop());
  for (const url of ["/dashboard/nope.js", "/dashboard/constructor", "/dashboard/__proto__", "/dashboard/toString", "/dashboard/..%2Fapi%2Fapp.js", "/dashboard/%2e%2e%2fpackage.json", "/dashboard/index.html/x", "/dashboard/uPlot.cjs.js"]) {
    const res = await p.app.inject({ method: "GET", url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().code, "not_found", url);
  }
  // The data stays behind the token: the page's API calls without one are 401.
  assert.equal((await p.app.inject({ method: "GET", url: "/v1/postbacks/pb_x" })).statusCode, 401);
});
