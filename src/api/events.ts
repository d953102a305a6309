/**
 * Events (seed 001). An account token acts on its own account; the admin names one with
 * `?account_id=` (or `account_id` in a query body).
 *   POST   /v1/events               one event or an array → per event, in order: its id, or its
 *                                   errors. 201 all stored; 202 some stored, some not; 422
 *                                   invalid_events none stored. ?atomic=true: all or none.
 *   GET    /v1/events               ?session_id=&category=&name=&from=&to=&limit=&after=
 *   POST   /v1/events/query         the same filters as a JSON body (seed 001's time-range request)
 *   GET    /v1/events/{id}
 *   GET    /v1/sessions/{id}        the session's events in time order, with count and first/last time
 *   GET    /v1/sessions             ?from=&to=&name=&limit=&after= sessions active in the range
 * Listings are ordered by the event's timestamp, then its id (arrival); `from` is inclusive,
 * `to` exclusive; `after` is the `next_after` of the page before.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import { ApiError } from "../core/errors.js";
import { EVENT_TIME_EXAMPLES, formatEventTime, parseEventTime } from "../core/event-time.js";
import type { EventError, EventTimeUs } from "../core/events.js";
import { isEventId } from "../core/ids.js";
import type { Account } from "../core/types.js";
import type { Ports } from "../app/ports.js";
import { eventView, receiveEvents, type EventOutcome } from "../app/events.js";
import type { EventSchemaCache } from "../core/event-schemas.js";
import type { EventCursor, EventFilter, SessionCursor } from "../store/port.js";
import { accessibleAccount, queryString } from "./common.js";
import { checkObjectBody, NUL } from "./validate.js";
import { sendEventsSchema, listEventsSchema, queryEventsSchema, getEventSchema, getSessionSchema, listSessionsSchema } from "./schemas/events.js";

export const DEFAULT_EVENT_PAGE = 100;
export const MAX_EVENT_PAGE = 1000;

const QUERY_FIELDS = ["account_id", "session_id", "category", "name", "from", "to", "limit", "after"] as const;
const QUERY_EXAMPLE = '{"session_id":"e2085be5-9137-4e4e-80b5-f1ffddc25423","from":"2021-09-26 00:00:00","to":"2021-09-27 00:00:00"}';

export interface EventRouteDeps extends Ports {
  config: Config;
  schemas: EventSchemaCache;
  /** Called once events are stored: their fan-out can start. */
  onEventsStored?: (() => void) | undefined;
  /** Told how many events of each request were stored and how many refused, for /metrics. */
  onEventsReceived?: ((stored: number, refused: number) => void) | undefined;
}

/**
 * The account the request acts on: the token's own, or the admin's `account_id`. An account
 * token naming another account gets 404, as for an id that does not exist.
 */
export async function eventAccount(request: FastifyRequest, ports: Ports, named: string | undefined): Promise<Account> {
  const caller = request.caller;
  const accountId = named ?? (caller.kind === "account" ? caller.accountId : undefined);
  if (accountId === undefined) {
    throw new ApiError("missing_account_id", "The admin token must name the account: add ?account_id=acct_... (an account token acts on its own).", { field: "account_id" });
  }
  return accessibleAccount(request, ports.stores.accounts, accountId);
}

/** The POST /v1/events routes: under the Idempotency-Key hooks. */
export function eventIngestRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  app.post("/v1/events", { schema: sendEventsSchema }, async (request, reply) => {
    const atomic = parseAtomic(queryString(request.query, "atomic"));
    const items = eventItems(request.body, deps.config.max_batch);
    const account = await eventAccount(request, deps, queryString(request.query, "account_id"));
    const result = await receiveEvents(deps, { maxFutureMs: deps.config.event_max_future_ms, schemas: deps.schemas }, { account, items, atomic });
    const events = result.outcomes.map(outcomeView);
    const stored = result.outcomes.filter((o) => "id" in o).length;
    deps.onEventsReceived?.(stored, result.outcomes.filter((o) => "errors" in o).length);
    if (stored === 0) {
      const first = result.outcomes.find((o): o is { index: number; errors: EventError[] } => "errors" in o)!;
      const error = first.errors[0]!;
      const refused = result.outcomes.filter((o) => "errors" in o).length;
      throw new ApiError(
        "invalid_events",
        `${refused === 1 ? "The event" : `${refused} of the ${items.length} events`} cannot be stored${atomic && refused < items.length ? ", so none was (atomic=true)" : ""}. ` +
          `First: event ${first.index}, ${error.field || "the event"}: ${error.detail} Each event's errors are in "events".`,
        { extensions: { events } },
      );
    }
    if (result.stored > 0) deps.onEventsStored?.();
    reply.code(stored === items.length ? 201 : 202);
    return { events };
  });
}

/** The event queries. */
export function eventRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  app.get("/v1/events", { schema: listEventsSchema }, async (request) => {
    const q = (field: string) => queryString(request.query, field);
    const accountId = (await eventAccount(request, deps, q("account_id"))).id;
    return listEvents(deps, accountId, readFilters((field) => q(field), "query"));
  });

  app.post("/v1/events/query", { schema: queryEventsSchema }, async (request) => {
    const body = checkObjectBody(request.body ?? {}, QUERY_FIELDS, QUERY_EXAMPLE);
    const field = (name: string): string | undefined => {
      const value = body[name];
      if (value === undefined || value === null) return undefined;
      if (name === "limit" && typeof value === "number") return String(value);
      if (typeof value !== "string" || value === "") {
        throw new ApiError("invalid_field", `${name} must be a non-empty string${name === "limit" ? " or a number" : ""}; got ${JSON.stringify(value).slice(0, 100)}.`, { field: name });
      }
      // No stored value holds one, and Postgres refuses it in a query: say so rather than fail.
      if (value.includes(NUL)) throw new ApiError("invalid_field", `${name} holds a NUL character (\\u0000); leave it out.`, { field: name });
      return value;
    };
    const accountId = (await eventAccount(request, deps, field("account_id") ?? queryString(request.query, "account_id"))).id;
    return listEvents(deps, accountId, readFilters(field, "body"));
  });

  app.get<{ Params: { id: string } }>("/v1/events/:id", { schema: getEventSchema }, async (request) => {
    const accountId = (await eventAccount(request, deps, queryString(request.query, "account_id"))).id;
    const id = request.params.id;
    const event = isEventId(id) ? await deps.stores.events.getEvent(accountId, id) : undefined;
    if (!event) throw new ApiError("event_not_found", `No event ${JSON.stringify(id.slice(0, 100))} in this account. Ids are those POST /v1/events answered (evt_...).`);
    return eventView(event);
  });

  app.get<{ Params: { id: string } }>("/v1/sessions/:id", { schema: getSessionSchema }, async (request) => {
    const q = (field: string) => queryString(request.query, field);
    const accountId = (await eventAccount(request, deps, q("account_id"))).id;
    const sessionId = request.params.id;
    const summary = await deps.stores.events.sessionSummary(accountId, sessionId);
    if (!summary) throw sessionNotFound(sessionId);
    const page = await listEvents(deps, accountId, { sessionId, ...readPage(q, "query") }, true);
    return {
      session_id: sessionId,
      count: summary.count,
      first_timestamp: formatEventTime(summary.firstUs),
      last_timestamp: formatEventTime(summary.lastUs),
      events: page.data,
      next_after: page.next_after,
    };
  });

  app.get("/v1/sessions", { schema: listSessionsSchema }, async (request) => {
    const q = (field: string) => queryString(request.query, field);
    const accountId = (await eventAccount(request, deps, q("account_id"))).id;
    const range = readRange(q);
    const limit = readLimit(q("limit"), "query");
    const afterText = q("after");
    const after = afterText === undefined ? undefined : readSessionCursor(afterText);
    const name = q("name");
    const sessions = await deps.stores.events.listSessions({ accountId, fromUs: range.fromUs, toUs: range.toUs, name, after, limit: limit + 1 });
    const more = sessions.length > limit;
    const shown = more ? sessions.slice(0, limit) : sessions;
    const last = shown[shown.length - 1];
    return {
      data: shown.map((s) => ({ session_id: s.sessionId, count: s.count, first_timestamp: formatEventTime(s.firstUs), last_timestamp: formatEventTime(s.lastUs) })),
      next_after: more && last ? `${last.lastUs}.${last.sessionId}` : null,
    };
  });
}

/** What a listing takes from the query string or a query body: the store's filter, for the account named apart. */
type Filters = Omit<EventFilter, "accountId">;

type Source = "query" | "body";
type Read = (field: string) => string | undefined;

function readFilters(read: Read, source: Source): Filters {
  return { sessionId: read("session_id"), category: read("category"), name: read("name"), ...readRange(read), ...readPage(read, source) };
}

/** A listing of the account's events; a session named that has no events is 404 (checked once, here or by the caller). */
async function listEvents(ports: Ports, accountId: string, filters: Filters, sessionKnown = false): Promise<{ data: ReturnType<typeof eventView>[]; next_after: string | null }> {
  if (!sessionKnown && filters.sessionId !== undefined && !(await ports.stores.events.sessionSummary(accountId, filters.sessionId))) {
    throw sessionNotFound(filters.sessionId);
  }
  const filter: EventFilter = { accountId, ...filters, limit: filters.limit + 1 };
  const events = await ports.stores.events.queryEvents(filter);
  const more = events.length > filters.limit;
  const shown = more ? events.slice(0, filters.limit) : events;
  const last = shown[shown.length - 1];
  return { data: shown.map(eventView), next_after: more && last ? `${last.timestampUs}.${last.id}` : null };
}

function readRange(read: Read): { fromUs?: EventTimeUs; toUs?: EventTimeUs } {
  const fromUs = readTime(read("from"), "from");
  const toUs = readTime(read("to"), "to");
  if (fromUs !== undefined && toUs !== undefined && toUs <= fromUs) {
    throw new ApiError("invalid_time", `to must be later than from (from is inclusive, to exclusive); got from ${formatEventTime(fromUs)}, to ${formatEventTime(toUs)}.`, { field: "to" });
  }
  return { ...(fromUs === undefined ? {} : { fromUs }), ...(toUs === undefined ? {} : { toUs }) };
}

function readPage(read: Read, source: Source): { limit: number; after?: EventCursor } {
  const after = read("after");
  return { limit: readLimit(read("limit"), source), ...(after === undefined ? {} : { after: readEventCursor(after) }) };
}

function readTime(text: string | undefined, field: string): EventTimeUs | undefined {
  if (text === undefined) return undefined;
  const parsed = parseEventTime(text);
  if (!parsed.ok) throw new ApiError("invalid_time", `${field} ${parsed.detail}`, { field });
  return parsed.us;
}

function readLimit(text: string | undefined, source: Source): number {
  if (text === undefined) return DEFAULT_EVENT_PAGE;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > MAX_EVENT_PAGE) {
    throw new ApiError(source === "query" ? "invalid_query" : "invalid_field", `limit must be a whole number from 1 to ${MAX_EVENT_PAGE}; got ${JSON.stringify(text.slice(0, 20))}.`, { field: "limit" });
  }
  return Number(text);
}

/** `after` of an event listing: `<timestamp in µs>.<event id>`, as next_after gives it. */
function readEventCursor(text: string): EventCursor {
  const m = /^(-?\d{1,17})\.(evt_[0-9A-HJKMNP-TV-Z]{26})$/.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw badCursor(text);
  return { timestampUs: Number(m[1]), id: m[2]! };
}

/** `after` of a session listing: `<last time in µs>.<session id>`. */
function readSessionCursor(text: string): SessionCursor {
  const m = /^(-?\d{1,17})\.(.{1,100})$/s.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw badCursor(text);
  return { lastUs: Number(m[1]), sessionId: m[2]! };
}

function badCursor(text: string): ApiError {
  return new ApiError("invalid_query", `after must be the next_after of the page before, unchanged; got ${JSON.stringify(text.slice(0, 100))}.`, { field: "after" });
}

function sessionNotFound(sessionId: string): ApiError {
  return new ApiError("session_not_found", `No events of session ${JSON.stringify(sessionId.slice(0, 100))} in this account.`, { field: "session_id" });
}

function parseAtomic(text: string | undefined): boolean {
  if (text === undefined || text === "false") return false;
  if (text === "true") return true;
  throw new ApiError("invalid_query", `atomic must be true or false; got ${JSON.stringify(text.slice(0, 20))}.`, { field: "atomic" });
}

/** The request body as a list of events: one event object, or an array of up to `max`. */
function eventItems(body: unknown, max: number): unknown[] {
  if (Array.isArray(body)) {
    if (body.length === 0) throw new ApiError("invalid_body", "The array holds no event; send one event object or an array of 1 to " + max + ".");
    if (body.length > max) throw new ApiError("too_many_items", `${body.length} events in one request; send at most ${max} (FERRY_MAX_BATCH) per request.`);
    return body;
  }
  if (body === null || typeof body !== "object") {
    throw new ApiError("invalid_body", `Send one event as a JSON object, or an array of them, such as {"session_id":"s1","category":"party","name":"AppName","data":{"host":"www.party.com"},"timestamp":"2021-09-26 09:15:27.243860"}. Timestamps: ${EVENT_TIME_EXAMPLES}.`);
  }
  return [body];
}

function outcomeView(o: EventOutcome): Record<string, unknown> {
  if ("id" in o) return { index: o.index, id: o.id, created: o.created };
  if ("errors" in o) return { index: o.index, errors: o.errors };
  return { index: o.index, stored: false, detail: "Valid, but not stored: another event of this atomic batch is not." };
}
