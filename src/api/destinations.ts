/**
 * Destinations: where an account's pushed data goes. An account token acts on its own
 * account's; the admin names the account (`account_id` in the body on create, in the query on
 * list) and may act on any.
 *   POST   /v1/destinations                    → 201 with its signing secret; the same method and
 *                                                URL as one the account has → that one, re-enabled
 *                                                and updated, 200 (re-registering: a partner that
 *                                                signs up again gets its old destination back)
 *   GET    /v1/destinations                    ?account_id=&limit=&after= → {"data","next_after"}
 *   GET    /v1/destinations/{id}               (never the secret)
 *   PATCH  /v1/destinations/{id}               any field; enabled:true releases its held postbacks
 *   DELETE /v1/destinations/{id}               → 204; its held postbacks are cancelled
 *   GET    /v1/destinations/{id}/secret        {"secret"}
 *   POST   /v1/destinations/{id}/rotate-secret → 200 with the new secret
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { DestinationPatch } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { checkHttpUrl, hasFixedOrigin, renderTemplate } from "../core/template.js";
import { ON_DISABLE, ORDERING, type Destination, type OnDisable, type Ordering } from "../core/types.js";
import { compileTemplate } from "../core/template.js";
import type { Ports } from "../app/ports.js";
import {
  checkDestinationPolicy, deleteDestination, findDestination, maxTimeoutFor, registerDestination, rotateSecret, updateDestination,
} from "../app/destinations.js";
import { accessibleAccount, accountNotFound, iso, listPage, ownAccount, parsePage, queryString } from "./common.js";
import { boolField, checkObjectBody, checkUrlTemplate, intField, parseMethod, positiveNumberField, shown, stringField } from "./validate.js";
import { createDestinationSchema, listDestinationsSchema, getDestinationSchema, patchDestinationSchema, deleteDestinationSchema, destinationSecretSchema, rotateSecretSchema } from "./schemas/destinations.js";

const FIELDS = [
  "account_id", "url", "method", "headers", "event_types", "enabled", "timeout_ms", "max_attempts",
  "default_value", "rate_limit", "concurrency", "failure_threshold", "failure_window_ms", "on_disable",
  "rate_limit_burst", "ordering", "ordering_key", "paused_until",
] as const;
/** The slowest rate a destination may be limited to: one request every 1,000 s. */
const MIN_RATE_LIMIT = 0.001;
const MAX_ORDERING_KEY = 200;
const EXAMPLE = '{"url":"https://partner.example/hook?id={id}","method":"POST","event_types":["order.*"]}';


const MAX_HEADERS = 50;
const MAX_HEADER_VALUE = 4096;
const MAX_EVENT_TYPES = 100;
const MAX_EVENT_TYPE_LENGTH = 200;
const DAY_MS = 24 * 3600 * 1000;

/**
 * Headers a destination may not set: those that frame the HTTP message or the connection
 * (Ferry's HTTP client sets them), and the Standard Webhooks signature headers (Ferry signs).
 */
const RESERVED_HEADERS = new Set([
  "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
  "proxy-connection", "proxy-authorization", "proxy-authenticate", "expect", "http2-settings",
]);
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * What undici sends in a header value: tab, visible ASCII and space, and bytes 0x80-0xFF
 * (a string's characters are sent as Latin-1). Anything else makes every delivery fail with
 * "invalid header", so it is refused when the destination is set: CR and LF would split the
 * message, other control characters and characters beyond U+00FF (emoji) cannot be sent.
 */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export function destinationView(d: Destination, withSecret = false): Record<string, unknown> {
  return {
    id: d.id,
    account_id: d.accountId,
    url: d.url,
    method: d.method,
    headers: d.headers,
    event_types: d.eventTypes,
    enabled: d.enabled,
    disabled_reason: d.disabledReason,
    disabled_at: iso(d.disabledAt),
    timeout_ms: d.timeoutMs,
    max_attempts: d.maxAttempts,
    default_value: d.defaultValue,
    rate_limit: d.rateLimit,
    concurrency: d.concurrency,
    failure_threshold: d.failureThreshold,
    failure_window_ms: d.failureWindowMs,
    on_disable: d.onDisable,
    rate_limit_burst: d.rateLimitBurst,
    ordering: d.ordering,
    ordering_key: d.orderingKey,
    paused_until: iso(d.pausedUntil),
    pause_reason: d.pausedUntil === null ? null : d.pauseReason,
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
    ...(withSecret ? { secret: d.secret } : {}),
  };
}

/** Static headers: an object of string values, none that Ferry sets itself. */
export function parseHeaders(value: unknown): Record<string, string> {
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ApiError("invalid_headers", `headers must be an object of header names to string values, e.g. {"Authorization":"Bearer abc"}; got ${shown(value)}.`, { field: "headers" });
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) {
    throw new ApiError("invalid_headers", `headers has ${entries.length} entries; the most is ${MAX_HEADERS}.`, { field: "headers" });
  }
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [name, v] of entries) {
    const lower = name.toLowerCase();
    // The field names the header at fault, so a client can point at it.
    const field = `headers.${name.slice(0, 100)}`;
    if (!HEADER_NAME.test(name) || name.length > 256) {
      throw new ApiError("invalid_headers", `headers has the name ${shown(name)}, which is not an HTTP header name (1 to 256 ASCII letters, digits and !#$%&'*+.^_\`|~- only).`, { field });
    }
    if (RESERVED_HEADERS.has(lower) || lower.startsWith("webhook-")) {
      throw new ApiError("invalid_headers", `headers may not set ${JSON.stringify(name)}: Ferry sets it itself${lower.startsWith("webhook-") ? " (webhook-* headers carry the signature)" : ""}. Leave it out.`, { field });
    }
    if (seen.has(lower)) {
      throw new ApiError("invalid_headers", `headers names ${JSON.stringify(name)} twice (header names ignore case); keep one.`, { field });
    }
    seen.add(lower);
    if (typeof v !== "string" || v.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(v)) {
      throw new ApiError("invalid_headers", `headers[${JSON.stringify(name)}] must be a string of at most ${MAX_HEADER_VALUE} characters, each a tab, a printable ASCII character or one from U+0080 to U+00FF (Latin-1): no line breaks, control characters or emoji; got ${shown(v)}.`, { field });
    }
    out[name] = v;
  }
  return out;
}

/**
 * Event-type patterns: `order.created` matches that type, `order.*` every type beginning
 * `order.`, `*` alone every type; an empty list every type too.
 */
export function parseEventTypes(value: unknown): string[] {
  if (value === null) return [];
  if (!Array.isArray(value)) {
    throw new ApiError("invalid_event_types", `event_types must be a list of event types, e.g. ["order.created","user.*"] (or [] for all); got ${shown(value)}.`, { field: "event_types" });
  }
  if (value.length > MAX_EVENT_TYPES) {
    throw new ApiError("invalid_event_types", `event_types has ${value.length} patterns; the most is ${MAX_EVENT_TYPES}.`, { field: "event_types" });
  }
  const out: string[] = [];
  for (const [i, pattern] of value.entries()) {
    if (typeof pattern !== "string" || pattern === "" || pattern.length > MAX_EVENT_TYPE_LENGTH) {
      throw new ApiError("invalid_event_types", `event_types[${i}] must be a non-empty string of at most ${MAX_EVENT_TYPE_LENGTH} characters; got ${shown(pattern)}.`, { field: "event_types" });
    }
    if (/[\s\x00-\x1f\x7f]/.test(pattern)) {
      throw new ApiError("invalid_event_types", `event_types[${i}] is ${shown(pattern)}, which holds whitespace or a control character; event types have none.`, { field: "event_types" });
    }
    if (pattern !== "*" && !/^[^*]+\.\*$|^[^*]+$/.test(pattern)) {
      throw new ApiError("invalid_event_types", `event_types[${i}] is ${shown(pattern)}: * may only stand alone (every type) or end a pattern as ".*" (e.g. "order.*").`, { field: "event_types" });
    }
    if (!out.includes(pattern)) out.push(pattern);
  }
  return out;
}

/** A destination's URL template, checked; returns its source. */
export function parseDestinationUrl(value: unknown): string {
  const template = checkUrlTemplate(value, "url");
  // When scheme and host are fixed, one rendering shows whether every rendering is a URL;
  // otherwise each push's data is checked as it is delivered.
  if (hasFixedOrigin(template)) {
    const rendered = renderTemplate(template, {}, "");
    const problem = checkHttpUrl(rendered);
    if (problem) throw new ApiError("invalid_url", `url renders as "${rendered.slice(0, 200)}", which ${problem}.`, { field: "url" });
  }
  return template.source;
}

/** A checked destination body: only the fields it gives are set. */
interface DestinationFields extends DestinationPatch {
  accountId?: string;
}

export function parseDestinationFields(body: unknown, creating: boolean): DestinationFields {
  const b = checkObjectBody(body, FIELDS, EXAMPLE);
  const out: DestinationFields = {};
  if (b["account_id"] !== undefined) {
    if (!creating) {
      throw new ApiError("invalid_field", "account_id cannot be changed: a destination stays with its account. Create one under the other account instead.", { field: "account_id" });
    }
    out.accountId = stringField(b["account_id"], "account_id", 100, false)!;
  }
  if (b["method"] !== undefined || creating) out.method = parseMethod(b["method"], "method", "POST");
  if (b["url"] !== undefined || creating) out.url = parseDestinationUrl(b["url"]);
  if (b["headers"] !== undefined) out.headers = parseHeaders(b["headers"]);
  if (b["event_types"] !== undefined) out.eventTypes = parseEventTypes(b["event_types"]);
  if (b["enabled"] !== undefined) out.enabled = boolField(b["enabled"], "enabled");
  if (b["timeout_ms"] !== undefined) out.timeoutMs = intField(b["timeout_ms"], "timeout_ms", 100, 120_000, true);
  if (b["max_attempts"] !== undefined) out.maxAttempts = intField(b["max_attempts"], "max_attempts", 1, 100, true);
  if (b["default_value"] !== undefined) {
    const v = b["default_value"];
    out.defaultValue = typeof v === "number" || typeof v === "boolean" ? String(v) : stringField(v, "default_value", 1024, true);
  }
  if (b["rate_limit"] !== undefined) {
    out.rateLimit = positiveNumberField(b["rate_limit"], "rate_limit", 100_000);
    if (out.rateLimit !== null && out.rateLimit < MIN_RATE_LIMIT) {
      throw new ApiError("invalid_number", `rate_limit must be at least ${MIN_RATE_LIMIT} (one request every 1,000 s), or null for no limit; got ${shown(out.rateLimit)}.`, { field: "rate_limit" });
    }
  }
  if (b["rate_limit_burst"] !== undefined) out.rateLimitBurst = intField(b["rate_limit_burst"], "rate_limit_burst", 1, 100_000, true);
  if (b["concurrency"] !== undefined) out.concurrency = intField(b["concurrency"], "concurrency", 1, 1000, true);
  if (b["failure_threshold"] !== undefined) out.failureThreshold = intField(b["failure_threshold"], "failure_threshold", 0, 1_000_000, true);
  if (b["failure_window_ms"] !== undefined) out.failureWindowMs = intField(b["failure_window_ms"], "failure_window_ms", 0, 365 * DAY_MS, true);
  if (b["on_disable"] !== undefined) {
    const v = b["on_disable"];
    if (!(ON_DISABLE as readonly unknown[]).includes(v)) {
      throw new ApiError("invalid_field", `on_disable must be "hold" (keep what it is owed until it is enabled) or "drop" (cancel it); got ${shown(v)}.`, { field: "on_disable" });
    }
    out.onDisable = v as OnDisable;
  }
  if (b["ordering"] !== undefined) {
    const v = b["ordering"];
    if (!(ORDERING as readonly unknown[]).includes(v)) {
      throw new ApiError("invalid_field", `ordering must be "none" (fastest), "destination" (one at a time, in the order accepted) or "key" (in order per ordering_key); got ${shown(v)}.`, { field: "ordering" });
    }
    out.ordering = v as Ordering;
  }
  if (b["ordering_key"] !== undefined) out.orderingKey = parseOrderingKey(b["ordering_key"]);
  if (b["paused_until"] !== undefined) {
    // Only a partner's Retry-After pauses a destination; its owner may end the pause at once.
    if (b["paused_until"] !== null) {
      throw new ApiError("invalid_field", `paused_until can only be set to null (resume sending now); a destination is paused by its partner's Retry-After. Got ${shown(b["paused_until"])}.`, { field: "paused_until" });
    }
    out.pausedUntil = null;
    out.pauseReason = null;
  }
  return out;
}

/** A `{field}` template naming what orders postbacks (ordering "key"); null for the default `{session_id}`. */
function parseOrderingKey(value: unknown): string | null {
  const key = stringField(value, "ordering_key", MAX_ORDERING_KEY, true);
  if (key === null) return null;
  if (compileTemplate(key).keys.length === 0) {
    throw new ApiError("invalid_field", `ordering_key must name at least one field of the data object in braces, e.g. "{user_id}" or "{tenant}:{user_id}"; got ${shown(key)}.`, { field: "ordering_key" });
  }
  return key;
}

export function destinationRoutes(app: FastifyInstance, deps: Ports & { config: Pick<Config, "lease_ms"> }): void {
  const store = deps.stores.accounts;
  const maxTimeoutMs = maxTimeoutFor(deps.config.lease_ms);

  /** The fields of a body, checked, and within what the caller may set. */
  function fieldsOf(request: FastifyRequest, creating: boolean): DestinationFields {
    const fields = parseDestinationFields(request.body, creating);
    checkDestinationPolicy(fields, { admin: request.caller.kind === "admin", maxTimeoutMs });
    return fields;
  }

  /** The account a create or list names: the caller's own, or for the admin `account_id`. */
  async function accountFor(request: FastifyRequest, accountId: string | undefined, where: string): Promise<string> {
    const caller = request.caller;
    if (caller.kind === "account") {
      if (accountId !== undefined && accountId !== caller.accountId) throw accountNotFound(accountId);
      return caller.accountId;
    }
    if (accountId === undefined) {
      throw new ApiError("missing_account_id", `The admin token acts for no account: name one with account_id ${where}.`, { field: "account_id" });
    }
    return (await accessibleAccount(request, store, accountId)).id;
  }

  /** The destination, when the caller may see it. */
  const destinationOf = (request: FastifyRequest, id: string) => findDestination(deps, id, ownAccount(request));

  app.post("/v1/destinations", { schema: createDestinationSchema }, async (request, reply) => {
    const { accountId: named, ...fields } = fieldsOf(request, true);
    const accountId = await accountFor(request, named, "in the body");
    const { destination, created } = await registerDestination(deps, request.log, accountId, { ...fields, method: fields.method!, url: fields.url! });
    reply.code(created ? 201 : 200);
    return destinationView(destination, true);
  });

  app.get("/v1/destinations", { schema: listDestinationsSchema }, async (request) => {
    const accountId = await accountFor(request, queryString(request.query, "account_id"), "in the query (?account_id=acct_...)");
    return listPage(parsePage(request.query), (page) => store.listDestinations(accountId, page), (d) => destinationView(d));
  });

  app.get<{ Params: { id: string } }>("/v1/destinations/:id", { schema: getDestinationSchema }, async (request) => {
    return destinationView(await destinationOf(request, request.params.id));
  });

  app.patch<{ Params: { id: string } }>("/v1/destinations/:id", { schema: patchDestinationSchema }, async (request) => {
    const current = await destinationOf(request, request.params.id);
    return destinationView(await updateDestination(deps, request.log, current, fieldsOf(request, false)));
  });

  app.delete<{ Params: { id: string } }>("/v1/destinations/:id", { schema: deleteDestinationSchema }, async (request, reply) => {
    await deleteDestination(deps, request.log, await destinationOf(request, request.params.id));
    return reply.code(204).send();
  });

  app.get<{ Params: { id: string } }>("/v1/destinations/:id/secret", { schema: destinationSecretSchema }, async (request) => {
    return { secret: (await destinationOf(request, request.params.id)).secret };
  });

  app.post<{ Params: { id: string } }>("/v1/destinations/:id/rotate-secret", { schema: rotateSecretSchema }, async (request) => {
    return destinationView(await rotateSecret(deps, await destinationOf(request, request.params.id)), true);
  });
}
