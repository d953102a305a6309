/**
 * What the store conformance suites share: how a suite opens the stores of one backend, and the
 * fixtures (postbacks, accounts, tokens, destinations) they write. The suites themselves are
 * ./postback-store.ts, ./account-store.ts and ./dedupe-store.ts, one per port.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { StoreUnavailableError } from "../../src/core/port-errors.js";
import { newAccountId, newDestinationId, newTokenId } from "../../src/core/ids.js";
import { HOUR, MINUTE } from "../../src/core/time.js";
import type { Account, Destination, Endpoint, Token } from "../../src/core/types.js";
import type { Attempt, AttemptRecord, CancelRecord, Stores } from "../../src/store/port.js";

/** The three stores of one backend on a fresh, empty database. */
export interface OpenedStores {
  stores: Stores;
  /**
   * Takes the database away from these stores for good: a closed SQLite database, or every
   * connection to Postgres cut and new ones refused. Every call after it must reject with
   * StoreUnavailableError.
   */
  outage(): Promise<void>;
  /** Closes the stores and removes their data. */
  close(): Promise<void>;
}

export type OpenStores = () => Promise<OpenedStores>;

/** Runs `fn` on freshly opened stores, closing them after. */
export async function withStores(open: OpenStores, fn: (opened: OpenedStores) => Promise<void>): Promise<void> {
  const opened = await open();
  try {
    await fn(opened);
  } finally {
    await opened.close();
  }
}

/**
 * Asserts that each call rejects with StoreUnavailableError carrying the driver's error as its
 * cause: what the API turns into store_unavailable and a worker into a retry.
 */
export async function assertUnavailable(calls: Record<string, () => Promise<unknown>>): Promise<void> {
  for (const [name, call] of Object.entries(calls)) {
    await assert.rejects(call(), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError, `${name}: ${String(err)} is not a StoreUnavailableError`);
      assert.equal(err.backend, "store");
      assert.ok(err.cause !== undefined, `${name}: the driver's error is its cause`);
      return true;
    });
  }
}

export const T0 = Date.UTC(2024, 0, 1);

let counter = 0;
export function uniq(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter.toString().padStart(6, "0")}`;
}

export function endpoint(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    id: uniq("ep"),
    method: "POST",
    url: "https://partner.example/hook?title={mascot}",
    defaultValue: "",
    maxAttempts: 3,
    ...overrides,
  };
}

/** A first attempt that failed with HTTP 503 and is retried at T0 + 10 s. */
export function record(overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    postbackId: uniq("pb"),
    endpoint: endpoint(),
    data: JSON.stringify({ mascot: "Gopher" }),
    createdAt: T0,
    attempt: 1,
    startedAt: T0 + 100,
    durationMs: 12.5,
    url: "https://partner.example/hook?title=Gopher",
    statusCode: 503,
    error: null,
    errorMessage: null,
    responseBody: "busy",
    state: "failed",
    nextAttemptAt: T0 + 10_000,
    reason: "HTTP 503",
    ...overrides,
  };
}

/** The same postback's next attempt, starting `afterMs` after the previous one. */
export function next(prev: AttemptRecord, overrides: Partial<AttemptRecord> = {}, afterMs = 10_000): AttemptRecord {
  return record({
    postbackId: prev.postbackId,
    endpoint: prev.endpoint,
    data: prev.data,
    createdAt: prev.createdAt,
    attempt: prev.attempt + 1,
    startedAt: prev.startedAt + afterMs,
    ...overrides,
  });
}

export function attemptOf(r: AttemptRecord): Attempt {
  return {
    attempt: r.attempt,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    url: r.url,
    statusCode: r.statusCode,
    error: r.error,
    errorMessage: r.errorMessage,
    responseBody: r.responseBody,
  };
}

export function account(overrides: Partial<Account> = {}): Account {
  return {
    id: newAccountId(T0),
    name: "Acme",
    email: "ops@acme.example",
    website: "https://acme.example",
    externalId: null,
    metadata: { plan: "pro" },
    dedupeWindowMs: 10 * MINUTE,
    strictEventTypes: false,
    eventRetentionMs: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

export function token(accountId: string, overrides: Partial<Token> = {}): Token {
  return { id: newTokenId(T0), accountId, name: "deploy", createdAt: T0, revokedAt: null, ...overrides };
}

export function hashOf(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** An enabled destination with every override set: 3 failures within an hour disable it. */
export function destination(accountId: string, overrides: Partial<Destination> = {}): Destination {
  return {
    id: newDestinationId(T0),
    accountId,
    url: "https://partner.example/hook/{event}",
    method: "POST",
    headers: { Authorization: "Bearer partner-token", "X-Note": "ünï 😀" },
    eventTypes: ["order.*", "refund.created"],
    enabled: true,
    disabledReason: null,
    disabledAt: null,
    timeoutMs: 5000,
    maxAttempts: 8,
    defaultValue: "-",
    rateLimit: 2.5,
    concurrency: 4,
    failureThreshold: 3,
    failureWindowMs: HOUR,
    onDisable: "hold",
    rateLimitBurst: 5,
    ordering: "key",
    orderingKey: "{user_id}",
    pausedUntil: null,
    pauseReason: null,
    secret: "whsec_c2VjcmV0LXNpZ25pbmcta2V5",
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** A failure counted with the destination fixture's settings: 3 within an hour. */
export function failure(destinationId: string, at: number, overrides: { threshold?: number; windowMs?: number } = {}) {
  return { destinationId, at, threshold: 3, windowMs: HOUR, ...overrides };
}

export function cancel(overrides: Partial<CancelRecord> = {}): CancelRecord {
  return {
    postbackId: uniq("pb"),
    endpoint: endpoint({ accountId: "acct_A", destinationId: "dst_D" }),
    data: JSON.stringify({ event: "order.created" }),
    createdAt: T0,
    at: T0 + 5000,
    reason: "destination deleted",
    ...overrides,
  };
}
