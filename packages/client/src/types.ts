/**
 * The shapes of Ferry's JSON, as the README documents them: snake_case fields, ISO 8601 times.
 * Written by hand until docs/openapi.json is generated from the route schemas; once it is,
 * `npm run generate -w @ferry/client` writes src/openapi.ts and these stay checked against it.
 * The client validates nothing the server does not: a field Ferry refuses comes back as a
 * FerryError with its code, not as a client-side check that could drift.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A data object: any JSON object. */
export type DataObject = Record<string, unknown>;

/** A page of a listing; `next_after` is the `after` of the next page, null on the last one. */
export interface Page<T> {
  data: T[];
  next_after: string | null;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

// ---- inline postbacks: POST /ingest ------------------------------------------------------

export interface Endpoint {
  method: HttpMethod;
  /** A URL template: each `{key}` becomes the data object's value, percent-encoded. */
  url: string;
  /** What a missing or null `{key}` becomes for this request. */
  default?: string;
  max_attempts?: number;
}

export interface IngestRequest {
  endpoint: Endpoint;
  data: DataObject[];
}

export interface IngestResult {
  /** One postback id per data object, in order. */
  ids: string[];
}

// ---- push: POST /v1/push -----------------------------------------------------------------

export interface PushResult {
  postbacks: Array<{ id: string; destination_id: string; index: number }>;
  /** Objects dropped by the account's dedupe_window_ms. */
  duplicates: unknown[];
}

// ---- accounts and tokens -----------------------------------------------------------------

export interface Account {
  id: string;
  name: string;
  email: string | null;
  website: string | null;
  external_id: string | null;
  metadata: Record<string, unknown> | null;
  dedupe_window_ms: number | null;
  strict_event_types: boolean;
  event_retention_ms: number | null;
  created_at: string;
  updated_at: string;
}

export interface AccountFields {
  name?: string;
  email?: string | null;
  website?: string | null;
  external_id?: string | null;
  metadata?: Record<string, unknown> | null;
  dedupe_window_ms?: number | null;
  strict_event_types?: boolean;
  event_retention_ms?: number | null;
}

export interface AccountListQuery {
  limit?: number;
  after?: string;
  external_id?: string;
}

export interface Token {
  id: string;
  name: string | null;
  created_at: string;
  revoked_at: string | null;
}

/** A new token: `token` is the secret, shown this once. */
export interface NewToken {
  id: string;
  token: string;
  name: string | null;
  created_at: string;
}

// ---- destinations ------------------------------------------------------------------------

export interface Destination {
  id: string;
  account_id: string;
  url: string;
  method: HttpMethod;
  headers: Record<string, string>;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: string | null;
  timeout_ms: number | null;
  max_attempts: number | null;
  default_value: string | null;
  rate_limit: number | null;
  concurrency: number | null;
  failure_threshold: number | null;
  failure_window_ms: number | null;
  on_disable: "hold" | "drop";
  created_at: string;
  updated_at: string;
}

/** A destination as created or rotated: with its signing secret. */
export interface DestinationWithSecret extends Destination {
  secret: string;
}

export interface DestinationFields {
  url?: string;
  method?: HttpMethod;
  headers?: Record<string, string> | null;
  event_types?: string[];
  enabled?: boolean;
  timeout_ms?: number | null;
  max_attempts?: number | null;
  default_value?: string | null;
  rate_limit?: number | null;
  concurrency?: number | null;
  failure_threshold?: number | null;
  failure_window_ms?: number | null;
  on_disable?: "hold" | "drop";
  /** The admin names the account; an account token creates in its own. */
  account_id?: string;
}

export interface ReplayRequest {
  since: string;
  until?: string;
}

export interface ReplayResult {
  destination_id: string;
  since: string;
  until: string;
  replayed: number;
  skipped: number;
}

// ---- postbacks ---------------------------------------------------------------------------

export type PostbackState = "pending" | "failed" | "delivered" | "dead" | "held" | "cancelled";

export interface Attempt {
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number | null;
  url: string;
  [more: string]: unknown;
}

/** GET /v1/postbacks/{id}: the postback with its endpoint, data and every attempt. */
export interface Postback {
  id: string;
  state: PostbackState;
  attempts: Attempt[] | number;
  [more: string]: unknown;
}

/** A row of the delivery log (GET /v1/postbacks). */
export interface PostbackSummary {
  id: string;
  state: PostbackState;
  account_id: string | null;
  destination_id: string | null;
  created_at: string;
  updated_at: string;
  attempts: number;
  last_attempt: Attempt | null;
  [more: string]: unknown;
}

export interface PostbackSearch {
  account_id?: string;
  destination_id?: string;
  state?: PostbackState;
  since?: string;
  until?: string;
  status_code?: number;
  q?: string;
  limit?: number;
  after?: string;
}

// ---- events ------------------------------------------------------------------------------

/** An event as sent. `id` is yours (unique per account): a resend with it is stored once. */
export interface EventInput {
  id?: string | null;
  session_id: string;
  category: string;
  name: string;
  data: DataObject;
  /** RFC 3339, or `2021-09-26 09:15:27.243860` read as UTC. */
  timestamp: string;
}

/** An event as Ferry stores and shows it. */
export interface Event {
  id: string;
  client_id: string | null;
  session_id: string;
  category: string;
  name: string;
  data: DataObject;
  timestamp: string;
  received_at: string;
}

export interface EventError {
  code: string;
  field: string;
  detail: string;
}

/** One event's answer, in the order sent: stored (created false for a repeat of its id), refused, or valid but not stored (atomic). */
export type EventOutcome =
  | { index: number; id: string; created: boolean }
  | { index: number; errors: EventError[] }
  | { index: number; stored: false; detail: string };

export interface SendEventsResult {
  /** 201: every event stored; 202: some refused (read each outcome). */
  status: 201 | 202;
  events: EventOutcome[];
}

export interface EventFilters {
  account_id?: string;
  session_id?: string;
  category?: string;
  name?: string;
  /** Inclusive. */
  from?: string;
  /** Exclusive. */
  to?: string;
  /** 1–1000, 100 by default. */
  limit?: number;
  after?: string;
}

export interface Session {
  session_id: string;
  count: number;
  first_timestamp: string;
  last_timestamp: string;
  events: Event[];
  next_after: string | null;
}

export interface SessionQuery {
  account_id?: string;
  limit?: number;
  after?: string;
}
