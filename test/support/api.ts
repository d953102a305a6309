/**
 * Calls to the API of a test pipeline (inject, no socket) and the checks the end-to-end suites
 * make on the answers; shared by test/e2e/fanout.ts, events.ts and delivery-log.ts.
 */
import assert from "node:assert/strict";
import { AUTH, type Pipeline } from "./harness.js";

export interface Call {
  status: number;
  body: any;
  headers: Record<string, unknown>;
}

/** One request; a string body is sent as it is (raw JSON, even malformed), anything else as JSON. */
export async function call(p: Pipeline, method: string, url: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<Call> {
  const res = await p.app.inject({
    method: method as "GET",
    url,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { payload: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body ? res.json() : undefined, headers: res.headers };
}

/** The body of an answer that must have `status`. */
export function ok(c: Call, status: number, what: string): any {
  assert.equal(c.status, status, `${what}: ${JSON.stringify(c.body)}`);
  return c.body;
}

/** The body of a problem+json answer with `status` and `code`. */
export function problem(c: Call, status: number, code: string, what: string): any {
  assert.equal(c.status, status, `${what}: ${JSON.stringify(c.body)}`);
  assert.match(String(c.headers["content-type"]), /^application\/problem\+json/, what);
  assert.equal(c.body.code, code, `${what}: ${JSON.stringify(c.body)}`);
  return c.body;
}

/** A new account with a token: its id, the token, and the headers that act as it. */
export async function account(p: Pipeline, fields: Record<string, unknown> = {}): Promise<{ id: string; auth: Record<string, string>; token: string }> {
  const a = ok(await call(p, "POST", "/v1/accounts", { name: "Acme", email: "ops@acme.test", ...fields }), 201, "create account");
  const t = ok(await call(p, "POST", `/v1/accounts/${a.id}/tokens`, { name: "ci" }), 201, "create token");
  return { id: a.id, auth: { authorization: `Bearer ${t.token}` }, token: t.token };
}
