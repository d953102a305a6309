/**
 * Accounts, their tokens and destinations, made through Ferry's API as a user would (the
 * rate-limit and fairness scenarios of issue 14): POST /v1/accounts and /v1/accounts/{id}/tokens
 * with the admin token, POST /v1/destinations with the account's own token; the account's data
 * then goes in through POST /v1/push.
 */
import { request } from "undici";
import { TOKEN } from "./scenarios.js";

export interface BenchAccount {
  id: string;
  /** The account's own token: what pushes for it. */
  token: string;
  destinationId: string;
}

async function call(base: string, token: string, method: "POST" | "GET", path: string, body?: unknown): Promise<any> {
  const res = await request(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path} answered ${res.statusCode}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** An account with a token, and one destination of its own (`destination`: the POST /v1/destinations body). */
export async function createAccount(base: string, name: string, destination: Record<string, unknown>): Promise<BenchAccount> {
  const account = await call(base, TOKEN, "POST", "/v1/accounts", { name });
  const token = (await call(base, TOKEN, "POST", `/v1/accounts/${account.id}/tokens`, { name: "bench" })).token as string;
  const d = await call(base, token, "POST", "/v1/destinations", destination);
  return { id: account.id as string, token, destinationId: d.id as string };
}

/** A destination as its account sees it (GET /v1/destinations/{id}): what the report repeats. */
export async function destinationView(base: string, account: BenchAccount): Promise<Record<string, unknown>> {
  return call(base, account.token, "GET", `/v1/destinations/${account.destinationId}`);
}

/** The JSON body of a push of `n` objects `{"n": i}` (the destination's URL takes {n}). */
export function pushBody(n: number): string {
  return JSON.stringify(Array.from({ length: n }, (_, i) => ({ n: i })));
}
