/**
 * Events (seed 001): receiving a batch of events for an account — each read and checked
 * (core/events.ts), its `data` checked against its category's schema when one is registered —
 * storing the valid ones, and the view every reader gets (the API's answers and the postbacks
 * of the fan-out alike).
 */
import { ApiError } from "../core/errors.js";
import { formatEventTime } from "../core/event-time.js";
import { EventSchemaCache, validateEventData } from "../core/event-schemas.js";
import { parseEvent, unknownCategoryError, type EventError, type ParsedEvent, type StoredEvent } from "../core/events.js";
import { newEventId } from "../core/ids.js";
import type { EventType } from "../core/events.js";
import type { Ports } from "./ports.js";
import type { Account } from "../core/types.js";

/** An event as Ferry shows it: in answers, queries, and as the body of its postbacks. */
export interface EventView {
  id: string;
  /** The id the client gave it, if any. */
  client_id: string | null;
  session_id: string;
  category: string;
  name: string;
  data: Record<string, unknown>;
  /** Canonical: RFC 3339 in UTC with six fraction digits, e.g. 2021-09-26T09:15:27.243860Z. */
  timestamp: string;
  received_at: string;
}

export function eventView(event: StoredEvent): EventView {
  return {
    id: event.id,
    client_id: event.clientId,
    session_id: event.sessionId,
    category: event.category,
    name: event.name,
    data: JSON.parse(event.data) as Record<string, unknown>,
    timestamp: formatEventTime(event.timestampUs),
    received_at: new Date(event.receivedAt).toISOString(),
  };
}

/** The event view as JSON text, with `data` as stored (no parse and print again): a postback's body. */
export function eventJson(event: StoredEvent): string {
  return (
    `{"id":${JSON.stringify(event.id)},"client_id":${JSON.stringify(event.clientId)},"session_id":${JSON.stringify(event.sessionId)},` +
    `"category":${JSON.stringify(event.category)},"name":${JSON.stringify(event.name)},"data":${event.data},` +
    `"timestamp":"${formatEventTime(event.timestampUs)}","received_at":"${new Date(event.receivedAt).toISOString()}"}`
  );
}

/** One event's outcome, in the order sent. */
export type EventOutcome =
  /** Stored under `id`; created false when the client id was stored before (a retry). */
  | { index: number; id: string; created: boolean }
  | { index: number; errors: EventError[] }
  /** Valid, but not stored: another event of its all-or-none batch was not. */
  | { index: number; notStored: true };

export interface ReceiveEventsRequest {
  /** The account, as the caller has checked it may act on. */
  account: Account;
  /** The events as sent: each is checked here. */
  items: unknown[];
  /** All or none: one invalid event stores nothing. */
  atomic: boolean;
  now?: number;
}

export interface ReceiveEventsOptions {
  /** FERRY_EVENT_MAX_FUTURE_MS */
  maxFutureMs: number;
  schemas: EventSchemaCache;
}

export interface ReceiveEventsResult {
  outcomes: EventOutcome[];
  /** Events newly stored (not counting repeats of a client id). */
  stored: number;
}

/**
 * Checks every event and stores the valid ones in one transaction (with their fan-out outbox
 * entries), or none when `atomic` and any is invalid. Store failures
 * propagate (nothing was stored).
 */
export async function receiveEvents(ports: Ports, options: ReceiveEventsOptions, req: ReceiveEventsRequest): Promise<ReceiveEventsResult> {
  const now = req.now ?? Date.now();
  const account = req.account;

  const parsed = req.items.map((item, index) => parseEvent(item, index, { now, maxFutureMs: options.maxFutureMs }));
  // Each category's schema is looked up once per request.
  const types = new Map<string, Promise<EventType | undefined>>();
  const typeOf = (category: string) => {
    let type = types.get(category);
    if (!type) types.set(category, (type = ports.stores.events.getEventType(account.id, category)));
    return type;
  };
  const outcomes: (EventOutcome | { index: number; event: ParsedEvent })[] = [];
  for (const result of parsed) {
    if (!result.ok) {
      outcomes.push({ index: result.index, errors: result.errors });
      continue;
    }
    const errors = await checkData(result.event, await typeOf(result.event.category), account.strictEventTypes, options.schemas);
    outcomes.push(errors.length ? { index: result.index, errors } : { index: result.index, event: result.event });
  }

  const valid = outcomes.filter((o): o is { index: number; event: ParsedEvent } => "event" in o);
  if (valid.length === 0 || (req.atomic && valid.length < outcomes.length)) {
    return { outcomes: outcomes.map((o) => ("event" in o ? { index: o.index, notStored: true as const } : o)), stored: 0 };
  }
  const events: StoredEvent[] = valid.map(({ event }) => ({
    id: newEventId(now),
    accountId: account.id,
    clientId: event.clientId,
    sessionId: event.sessionId,
    category: event.category,
    name: event.name,
    data: JSON.stringify(event.data),
    timestampUs: event.timestampUs,
    receivedAt: now,
  }));
  const inserted = await ports.stores.events.insertEvents(events);
  const byIndex = new Map(valid.map((v, i) => [v.index, inserted[i]!]));
  return {
    outcomes: outcomes.map((o) => {
      const stored = byIndex.get(o.index);
      return stored ? { index: o.index, id: stored.id, created: stored.created } : (o as EventOutcome);
    }),
    stored: inserted.filter((i) => i.created).length,
  };
}

/** What is wrong with the event's data for its category: its schema's errors, or no schema where one is required. */
async function checkData(event: ParsedEvent, type: EventType | undefined, strict: boolean, schemas: EventSchemaCache): Promise<EventError[]> {
  if (!type) return strict ? [unknownCategoryError(event.category)] : [];
  const compiled = schemas.get(type);
  if (!compiled.ok) {
    // A stored schema always compiled when it was registered; this one no longer does (another
    // Ferry version's Ajv?). Refusing the event says what to fix; accepting it would skip the check.
    throw new ApiError("internal_error", `The schema of category ${JSON.stringify(event.category)} no longer compiles: ${compiled.detail}`);
  }
  return validateEventData(compiled.validate, event.data);
}
