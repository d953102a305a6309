/**
 * For the destination-limit tests with real processes: a partner that counts its requests in
 * flight, an account with one limited destination made through the API, and the received rate
 * over a steady window.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CountingPartner {
  url: string;
  /** When each request arrived (ms since the epoch). */
  arrivals: number[];
  inFlight(): number;
  /** The most requests in flight at once so far. */
  maxInFlight(): number;
  close(): Promise<void>;
}

/**
 * Answers 200 after `delayMs`; the n-th request (0-based) is not answered at all while
 * `hang(n)` is true (until its connection closes). In flight: from its arrival until its
 * answer is written or its connection closes.
 */
export async function countingPartner(delayMs: number, hang: (n: number) => boolean = () => false): Promise<CountingPartner> {
  const arrivals: number[] = [];
  let inFlight = 0;
  let max = 0;
  const server: Server = createServer((req, res) => {
    const n = arrivals.length;
    arrivals.push(Date.now());
    inFlight++;
    max = Math.max(max, inFlight);
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      inFlight--;
    };
    res.on("close", end);
    req.resume();
    if (hang(n)) return;
    setTimeout(() => {
      end();
      res.end("ok");
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    inFlight: () => inFlight,
    maxInFlight: () => max,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Calls Ferry's API as the admin. */
export async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A new account with one destination (`settings` such as rate_limit) at `url`; returns the account id. */
export async function limitedAccount(base: string, token: string, url: string, settings: Record<string, unknown>): Promise<string> {
  const account = await api(base, token, "POST", "/v1/accounts", { name: `limits ${url}` });
  if (account.status !== 201) throw new Error(`POST /v1/accounts: ${account.status} ${JSON.stringify(account.body)}`);
  const destination = await api(base, token, "POST", "/v1/destinations", { account_id: account.body.id, url: `${url}/hook?n={n}`, method: "GET", ...settings });
  if (destination.status !== 201) throw new Error(`POST /v1/destinations: ${destination.status} ${JSON.stringify(destination.body)}`);
  return account.body.id as string;
}

/** Pushes `count` objects to the account's destinations, in pushes of at most 500. */
export async function pushMany(base: string, token: string, accountId: string, count: number): Promise<void> {
  for (let from = 0; from < count; from += 500) {
    const data = Array.from({ length: Math.min(500, count - from) }, (_, i) => ({ n: from + i }));
    const pushed = await api(base, token, "POST", `/v1/push?account_id=${accountId}`, data);
    if (pushed.status !== 202) throw new Error(`POST /v1/push: ${pushed.status} ${JSON.stringify(pushed.body)}`);
  }
}

/**
 * Requests per second that arrived in the window [start, start + windowMs) where start is
 * `skipMs` after the first arrival: the steady rate, past any start-up burst.
 */
export function steadyRate(arrivals: readonly number[], skipMs: number, windowMs: number): number {
  const start = arrivals[0]! + skipMs;
  return arrivals.filter((t) => t >= start && t < start + windowMs).length / (windowMs / 1000);
}
