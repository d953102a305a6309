/** The row shapes both SQL stores read into, and their translation to the port's words. */
import type { AttemptErrorCode } from "../core/errors.js";
import type { Account, Destination, Endpoint, HttpMethod, OnDisable, Ordering, PostbackState, Token } from "../core/types.js";
import type { Attempt, PostbackRecord, ResendCandidate } from "./port.js";

/** An endpoint's columns, as both schemas name them in a join. */
export interface EndpointRow {
  endpoint_id: string;
  method: string;
  url: string;
  default_value: string;
  max_attempts: number;
  account_id: string | null;
  destination_id: string | null;
}

/** A postback joined with its endpoint. */
export interface PostbackRow extends EndpointRow {
  id: string;
  data: string;
  state: string;
  created_at: number;
  updated_at: number;
  next_attempt_at: number | null;
  reason: string | null;
}

/** The owner and destination are left out when null, so an inline endpoint reads back as it was sent. */
export function endpointFromRow(row: EndpointRow): Endpoint {
  const endpoint: Endpoint = {
    id: row.endpoint_id,
    method: row.method as HttpMethod,
    url: row.url,
    defaultValue: row.default_value,
    maxAttempts: row.max_attempts,
  };
  if (row.account_id !== null) endpoint.accountId = row.account_id;
  if (row.destination_id !== null) endpoint.destinationId = row.destination_id;
  return endpoint;
}

export function postbackFromRow(row: PostbackRow, attempts: Attempt[]): PostbackRecord {
  return {
    id: row.id,
    endpoint: endpointFromRow(row),
    data: row.data,
    state: row.state as PostbackState,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextAttemptAt: row.next_attempt_at,
    reason: row.reason,
    attempts: attempts.map((a) => ({ ...a, error: a.error as AttemptErrorCode | null })),
  };
}

/** A postback listed for a resend, joined with its endpoint. */
export interface CandidateRow extends EndpointRow {
  id: string;
  data: string;
  state: string;
  created_at: number;
  attempts: number;
}

export function candidateFromRow(row: CandidateRow): ResendCandidate {
  return {
    id: row.id,
    endpoint: endpointFromRow(row),
    data: row.data,
    state: row.state as PostbackState,
    createdAt: row.created_at,
    attempts: row.attempts,
  };
}

export interface AccountRow {
  id: string;
  name: string;
  email: string | null;
  website: string | null;
  /** JSON text */
  metadata: string;
  dedupe_window_ms: number;
  created_at: number;
  updated_at: number;
  /** 0/1 in SQLite, a boolean in Postgres. */
  strict_event_types: number | boolean;
  event_retention_ms: number | null;
  external_id: string | null;
}

export function accountFromRow(row: AccountRow): Account {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    website: row.website,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    dedupeWindowMs: row.dedupe_window_ms,
    strictEventTypes: Boolean(row.strict_event_types),
    eventRetentionMs: row.event_retention_ms,
    externalId: row.external_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * An account's columns in the order of ACCOUNT_COLUMNS: id, name, email, website, metadata,
 * dedupe_window_ms, created_at, updated_at, strict_event_types, event_retention_ms, external_id. `strict` is
 * how the store writes a boolean (0/1 in SQLite).
 */
export function accountValues(a: Account, strict: (value: boolean) => unknown): unknown[] {
  return [a.id, a.name, a.email, a.website, JSON.stringify(a.metadata), a.dedupeWindowMs, a.createdAt, a.updatedAt, strict(a.strictEventTypes), a.eventRetentionMs, a.externalId];
}

export interface TokenRow {
  id: string;
  account_id: string;
  name: string | null;
  created_at: number;
  revoked_at: number | null;
}

export function tokenFromRow(row: TokenRow): Token {
  return { id: row.id, accountId: row.account_id, name: row.name, createdAt: row.created_at, revokedAt: row.revoked_at };
}

export interface DestinationRow {
  id: string;
  account_id: string;
  url: string;
  method: string;
  /** JSON text */
  headers: string;
  /** JSON text */
  event_types: string;
  /** 0/1 in SQLite, a boolean in Postgres */
  enabled: number | boolean;
  disabled_reason: string | null;
  disabled_at: number | null;
  timeout_ms: number | null;
  max_attempts: number | null;
  default_value: string | null;
  rate_limit: number | null;
  concurrency: number | null;
  failure_threshold: number | null;
  failure_window_ms: number | null;
  secret: string;
  created_at: number;
  updated_at: number;
  on_disable: string;
  rate_limit_burst: number | null;
  ordering: string;
  ordering_key: string | null;
  /** a bigint comes back from Postgres as text */
  paused_until: number | string | null;
  pause_reason: string | null;
}

/** The columns a destination is read with (its failure count stays in the store). */
export const DESTINATION_COLUMNS =
  "id, account_id, url, method, headers, event_types, enabled, disabled_reason, disabled_at, timeout_ms, max_attempts, " +
  "default_value, rate_limit, concurrency, failure_threshold, failure_window_ms, secret, created_at, updated_at, on_disable, " +
  "rate_limit_burst, ordering, ordering_key, paused_until, pause_reason";

export function destinationFromRow(row: DestinationRow): Destination {
  return {
    id: row.id,
    accountId: row.account_id,
    url: row.url,
    method: row.method as HttpMethod,
    headers: JSON.parse(row.headers) as Record<string, string>,
    eventTypes: JSON.parse(row.event_types) as string[],
    enabled: Boolean(row.enabled),
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at,
    timeoutMs: row.timeout_ms,
    maxAttempts: row.max_attempts,
    defaultValue: row.default_value,
    rateLimit: row.rate_limit,
    concurrency: row.concurrency,
    failureThreshold: row.failure_threshold,
    failureWindowMs: row.failure_window_ms,
    onDisable: row.on_disable as OnDisable,
    rateLimitBurst: row.rate_limit_burst,
    ordering: row.ordering as Ordering,
    orderingKey: row.ordering_key,
    pausedUntil: row.paused_until === null ? null : Number(row.paused_until),
    pauseReason: row.pause_reason,
    secret: row.secret,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A destination's values in DESTINATION_COLUMNS order; `enabled` as the adapter stores booleans. */
export function destinationValues(d: Destination, enabled: (b: boolean) => unknown): unknown[] {
  return [
    d.id,
    d.accountId,
    d.url,
    d.method,
    JSON.stringify(d.headers),
    JSON.stringify(d.eventTypes),
    enabled(d.enabled),
    d.disabledReason,
    d.disabledAt,
    d.timeoutMs,
    d.maxAttempts,
    d.defaultValue,
    d.rateLimit,
    d.concurrency,
    d.failureThreshold,
    d.failureWindowMs,
    d.secret,
    d.createdAt,
    d.updatedAt,
    d.onDisable,
    d.rateLimitBurst,
    d.ordering,
    d.orderingKey,
    d.pausedUntil,
    d.pauseReason,
  ];
}
