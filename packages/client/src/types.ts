/**
 * The shapes of Ferry's JSON, taken from src/openapi.ts, which openapi-typescript generates from
 * docs/openapi.json (the document Ferry makes from its routes' schemas): `npm run generate -w
 * @ferry/client` rewrites it, and a test fails when it is stale. Only the names are written
 * here, so a route whose schema changes changes these types, and a client call that no longer
 * fits fails to compile. Two are written out, each checked against the document below:
 * `EventOutcome` (a union the document states as one object with optional members) and `Page`.
 *
 * The client validates nothing the server does not: a field Ferry refuses comes back as a
 * FerryError with its code, not as a client-side check that could drift.
 */
import type { components, paths } from "./openapi.js";

type Schemas = components["schemas"];
type Method = "get" | "post" | "put" | "patch" | "delete";
/** The operation at `path` and `method`. */
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<R> = R extends { content: { "application/json": infer J } } ? J : never;
/** The JSON of the operation's 2xx answers. */
type Ok<O> = O extends { responses: infer R } ? JsonOf<R[Extract<keyof R, 200 | 201 | 202>]> : never;
/** The operation's JSON request body. */
type Body<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
/** The operation's query parameters. */
type Query<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** A data object: any JSON object. */
export type DataObject = Record<string, unknown>;

/** A page of a listing; `next_after` is the `after` of the next page, null on the last one. */
export interface Page<T> {
  data: T[];
  next_after: string | null;
}

// ---- inline postbacks, pushes, broadcasts ------------------------------------------------
export type IngestRequest = Body<Op<"/ingest", "post">>;
export type Endpoint = IngestRequest["endpoint"];
export type HttpMethod = Endpoint["method"];
export type IngestResult = Ok<Op<"/ingest", "post">>;
export type PushResult = Ok<Op<"/v1/push", "post">>;
export type BroadcastResult = Ok<Op<"/v1/broadcast", "post">>;

// ---- accounts and tokens -----------------------------------------------------------------
export type Account = Schemas["Account"];
export type NewAccount = Body<Op<"/v1/accounts", "post">>;
export type AccountFields = Body<Op<"/v1/accounts/{id}", "patch">>;
export type AccountListQuery = Query<Op<"/v1/accounts", "get">>;
export type Token = Schemas["Token"];
/** A new token: `token` is the secret, shown this once. */
export type NewToken = Ok<Op<"/v1/accounts/{id}/tokens", "post">>;
export type TokenFields = NonNullable<Body<Op<"/v1/accounts/{id}/tokens", "post">>>;

// ---- destinations ------------------------------------------------------------------------
export type Destination = Schemas["Destination"];
/** A destination as created or rotated: with its signing secret. */
export type DestinationWithSecret = Schemas["DestinationWithSecret"];
export type NewDestination = Body<Op<"/v1/destinations", "post">>;
export type DestinationFields = Body<Op<"/v1/destinations/{id}", "patch">>;
export type DestinationListQuery = Query<Op<"/v1/destinations", "get">>;
export type ReplayRequest = Body<Op<"/v1/destinations/{id}/replay", "post">>;
export type ReplayResult = Ok<Op<"/v1/destinations/{id}/replay", "post">>;

// ---- postbacks and stats -----------------------------------------------------------------
/** GET /v1/postbacks/{id}: the postback with its endpoint, data and every attempt. */
export type Postback = Schemas["Postback"];
export type Attempt = Schemas["Attempt"];
export type PostbackState = Postback["state"];
/** A row of the delivery log (GET /v1/postbacks). */
export type PostbackSummary = Schemas["PostbackSummary"];
export type PostbackSearch = Query<Op<"/v1/postbacks", "get">>;
export type StatsQuery = Query<Op<"/v1/stats", "get">>;
export type DestinationStatsQuery = Query<Op<"/v1/destinations/{id}/stats", "get">>;
/** GET /v1/stats: every destination summed, with the queue. */
export type Stats = Ok<Op<"/v1/stats", "get">>;
/** GET /v1/destinations/{id}/stats: counts, latency, enabled, last error, queue depth. */
export type DestinationStats = Ok<Op<"/v1/destinations/{id}/stats", "get">>;

// ---- events ------------------------------------------------------------------------------
/** An event as sent. `id` is yours (unique per account): a resend with it is stored once. */
export type EventInput = Schemas["EventIn"];
/** An event as Ferry stores and shows it. */
export type Event = Schemas["Event"];
export type EventFilters = Query<Op<"/v1/events", "get">>;
/** GET /v1/sessions/{id}: the session's events (one page) with its count and first and last times. */
export type Session = Ok<Op<"/v1/sessions/{id}", "get">>;
export type SessionQuery = Query<Op<"/v1/sessions/{id}", "get">>;
export type EventType = Schemas["EventType"];
export type EventTypeFields = Body<Op<"/v1/event-types/{category}", "put">>;
export type EventTypeListQuery = Query<Op<"/v1/event-types", "get">>;

type DocumentedOutcome = Ok<Op<"/v1/events", "post">>["events"][number];
export type EventError = NonNullable<DocumentedOutcome["errors"]>[number];

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

// Compile-time checks that the shapes written out above say what the document says.
type Assert<T extends true> = T;
export type _OutcomeFitsDocument = Assert<EventOutcome extends DocumentedOutcome ? true : false>;
export type _PageFitsDocument = Assert<Ok<Op<"/v1/events", "get">> extends Page<Event> ? true : false>;
