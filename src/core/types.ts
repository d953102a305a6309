/** The HTTP methods a postback can be delivered with. */
export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export function isHttpMethod(value: unknown): value is HttpMethod {
  return typeof value === "string" && (HTTP_METHODS as readonly string[]).includes(value);
}

/** Methods whose postback carries the data object as a JSON body. */
export function sendsBody(method: HttpMethod): boolean {
  return method === "POST" || method === "PUT" || method === "PATCH";
}

/**
 * Methods whose postback to a destination (a push's, an event's) carries the data object as a
 * JSON body: DELETE too, as Data Pusher (seed 002) sent it. An inline /ingest endpoint's DELETE
 * sends none, as seed 000's delivery agent did.
 */
export function destinationSendsBody(method: HttpMethod): boolean {
  return sendsBody(method) || method === "DELETE";
}

/**
 * Where and how the postbacks of one ingest request are delivered. It is stored once per
 * ingest request and shared by all its postbacks: the template travels once, not per postback.
 */
export interface Endpoint {
  /** Names this content: two endpoints with one id are the same endpoint (see core/ids.ts). */
  id: string;
  method: HttpMethod;
  /** URL template with `{key}` placeholders. */
  url: string;
  /** What an unmatched or null `{key}` becomes. */
  defaultValue: string;
  /** Attempts before the postback is dead. */
  maxAttempts: number;
  /** The account that sent it, when an account token did (not the admin token). */
  accountId?: string;
  /**
   * Set for data pushed to a destination: the worker then delivers with the destination's
   * current settings (URL, method, headers, secret, limits), holds it while the destination is
   * disabled and cancels it once the destination is deleted.
   */
  destinationId?: string;
}

/** The state of a postback, as the API and the store report it. */
export type PostbackState = "pending" | "delivered" | "failed" | "dead" | "cancelled";

/** A tenant: one customer or application. Owns tokens and destinations. */
export interface Account {
  /** `acct_` + ULID */
  id: string;
  name: string;
  email: string | null;
  website: string | null;
  /**
   * A unique name the account is known by in another system (as Svix's application `uid`):
   * the compat routes find their clients by it (`webhooks:<name>`, `ads:<user_id>`).
   */
  externalId: string | null;
  /** Free JSON object the owner keeps with the account. */
  metadata: Record<string, unknown>;
  /** Content-hash duplicate detection: an object pushed again within this many ms is dropped; 0 = off. */
  dedupeWindowMs: number;
  /** Events: only categories with a registered schema are taken (unknown_category otherwise). */
  strictEventTypes: boolean;
  /** How long its events are kept, from receipt; null = FERRY_EVENT_RETENTION; 0 = forever. */
  eventRetentionMs: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A bearer token as stored: never the secret, only its SHA-256 hash. */
export interface Token {
  /** `tok_` + ULID */
  id: string;
  /** The account it acts for. */
  accountId: string;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
}

/**
 * The disabledReason of a destination its owner disabled: a push skips it, whereas one
 * disabled by endpoint health still gets its postbacks, held until it is enabled again.
 */
export const DISABLED_BY_OWNER = "disabled by its owner";

/**
 * The disabledReason of a destination whose partner answered 410 Gone: the endpoint no longer
 * exists, so nothing more is sent until its owner enables it again; what it is owed is held.
 */
export const DISABLED_GONE = "gone";

/**
 * Whether a destination's postbacks keep the order they were accepted in: "none" (the
 * default, fastest), "destination" (one at a time, in order), "key" (one at a time per
 * ordering key, keys side by side).
 */
export const ORDERING = ["none", "destination", "key"] as const;
export type Ordering = (typeof ORDERING)[number];
/** The ordering key of a destination with ordering "key" that names none: an event's session. */
export const DEFAULT_ORDERING_KEY = "{session_id}";

/** What becomes of a disabled destination's postbacks. */
export const ON_DISABLE = ["hold", "drop"] as const;
export type OnDisable = (typeof ON_DISABLE)[number];

/** Where an account's pushed data goes. Overrides left null take the configured defaults. */
export interface Destination {
  /** `dst_` + ULID */
  id: string;
  accountId: string;
  /** URL template with `{key}` placeholders. */
  url: string;
  method: HttpMethod;
  /** Static headers sent with every delivery (a partner's own auth). */
  headers: Record<string, string>;
  /** Event types delivered; empty means all. `order.*` matches by prefix. */
  eventTypes: string[];
  enabled: boolean;
  /** Why it was disabled (by endpoint health or by its owner), when it is. */
  disabledReason: string | null;
  disabledAt: number | null;
  timeoutMs: number | null;
  maxAttempts: number | null;
  defaultValue: string | null;
  /** Requests per second at most. */
  rateLimit: number | null;
  /**
   * Requests sent at once above the rate (GCRA burst), at least 1; null = 1: requests are
   * spaced evenly at `rateLimit` per second.
   */
  rateLimitBurst: number | null;
  /** Requests in flight at most. */
  concurrency: number | null;
  /** Failed attempts within `failureWindowMs` that disable it; 0 = never. */
  failureThreshold: number | null;
  /** 0 = failures count forever (fun-with-webhooks' rule: 3 failures in all disable a client). */
  failureWindowMs: number | null;
  /**
   * While it is disabled: "hold" keeps what it is owed until it is enabled again; "drop"
   * cancels it (fun-with-webhooks' rule: a disabled client is sent nothing, ever).
   */
  onDisable: OnDisable;
  /** Whether its postbacks keep their order (see ORDERING). */
  ordering: Ordering;
  /**
   * With ordering "key": a `{field}` template rendered against each data object at enqueue;
   * postbacks with the same rendering go one at a time, in order. null = DEFAULT_ORDERING_KEY.
   */
  orderingKey: string | null;
  /**
   * Nothing is sent to it before this time (ms since the epoch): its partner answered 429 or
   * 503 with Retry-After. Postbacks reserved meanwhile go back to the queue, not counted as
   * attempts. null or past: not paused.
   */
  pausedUntil: number | null;
  /** Why it is paused (e.g. "http_429 with Retry-After: 30"), while pausedUntil is set. */
  pauseReason: string | null;
  /** Standard Webhooks signing secret, `whsec_` + base64. */
  secret: string;
  createdAt: number;
  updatedAt: number;
}
