/**
 * The OpenAPI document made from the routes' schemas: the committed docs/openapi.json is the one
 * the routes make today, it is valid OpenAPI 3.1 by a maintained validator, every route in it
 * says its answers, and a running Ferry serves it at /openapi.json and browsable at /docs, with
 * no token, over a real socket.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Validator } from "@seriousme/openapi-schema-validator";
import { openApiText } from "../src/cli/openapi.js";
import { startPipeline } from "./support/harness.js";
import { repoPath } from "./support/paths.js";

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { tags?: string[]; responses?: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
};

const committed = () => readFileSync(repoPath("docs", "openapi.json"), "utf8");

test("docs/openapi.json is the document the routes make now (stale: run `npm run openapi` and commit it)", async () => {
  const made = await openApiText();
  assert.ok(made === committed(), "docs/openapi.json differs from what the routes' schemas make: run `npm run openapi` and commit docs/openapi.json");
});

test("docs/openapi.json is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)", async () => {
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(committed()) as Parameters<Validator["validate"]>[0]);
  assert.equal(validator.version, "3.1");
  assert.deepEqual(result, { valid: true });
});

test("the document names Ferry and its version, the bearer token, and every route's tag and answers", () => {
  const doc = JSON.parse(committed()) as Doc;
  const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as { version: string };
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.info.title, "Ferry");
  assert.equal(doc.info.version, pkg.version);
  assert.deepEqual(doc.components.securitySchemes["bearer"], {
    type: "http",
    scheme: "bearer",
    description: "The admin token (FERRY_ADMIN_TOKEN) or an account token (POST /v1/accounts/{id}/tokens).",
  });
  assert.ok(doc.components.schemas["Problem"], "the problem+json shape is a shared component");
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })));
  assert.ok(operations.length >= 40, `${operations.length} operations`);
  for (const { route, op } of operations) {
    assert.ok(op.tags?.length, `${route} has a tag`);
    const codes = Object.keys(op.responses ?? {});
    assert.ok(codes.some((c) => /^2/.test(c)), `${route} declares its success answer`);
    if (!["GET /", "GET /healthz"].includes(route)) assert.ok(codes.includes("4XX"), `${route} declares its problem+json errors`);
  }
  // The dashboard's files are no API.
  assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith("/dashboard")));
});

test("GET /openapi.json and /docs answer without a token, over a socket; /docs loads only its own files", async (t) => {
  const p = await startPipeline({}, { worker: false });
  t.after(() => p.stop());
  await p.app.listen({ host: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(p.app.server.address() as AddressInfo).port}`;

  const doc = await fetch(`${base}/openapi.json`);
  assert.equal(doc.status, 200);
  assert.match(doc.headers.get("content-type") ?? "", /^application\/json/);
  const served = (await doc.json()) as Doc;
  assert.ok(served.paths["/v1/events"], "the served document lists the routes");

  const page = await fetch(`${base}/docs`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  const html = await page.text();
  // Nothing from another origin: the page must work with no internet.
  assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//);
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /connect-src 'self'/);
  for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
    const res = await fetch(new URL(src, `${base}/docs/`));
    assert.equal(res.status, 200, `${src} is served`);
    await res.arrayBuffer();
  }
  const json = await fetch(`${base}/docs/json`);
  assert.equal(json.status, 200);
  assert.equal(((await json.json()) as Doc).info.title, "Ferry");

  // Its policy is its own: the API's answers carry none, and the dashboard keeps its own.
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.headers.get("content-security-policy"), null);
  await health.arrayBuffer();
  const dashboard = await fetch(`${base}/dashboard/`);
  assert.match(dashboard.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  await dashboard.arrayBuffer();
});

test("with FERRY_COMPAT on, the served document lists the seed systems' routes, tagged compat", async (t) => {
  const p = await startPipeline({ compat: "data-pusher,webhooks,ads" }, { worker: false });
  t.after(() => p.stop());
  const res = await p.app.inject({ method: "GET", url: "/openapi.json" });
  const doc = JSON.parse(res.body) as Doc;
  for (const path of ["/account/", "/destination/", "/server/incoming_data", "/webhook", "/webhooks/account", "/webhooks/subscribe", "/webhooks/trigger"]) {
    const ops = Object.values(doc.paths[path] ?? {});
    assert.ok(ops.length > 0, `${path} is in the document`);
    for (const op of ops) assert.deepEqual(op.tags, ["compat"], `${path} is tagged compat`);
  }
});
