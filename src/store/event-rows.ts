/** The row shapes both SQL event stores read into, and their translation to the port's words. */
import type { EventType, StoredEvent } from "../core/events.js";
import type { SessionListing } from "./port.js";

/** An event's columns in the order EVENT_COLUMNS names them (and inserts take them). */
export const EVENT_COLUMNS = "id, account_id, client_id, session_id, category, name, data, timestamp_us, received_at";
/** The same columns of the events table aliased `e`, for queries that join it. */
export const E_COLUMNS = EVENT_COLUMNS.split(", ").map((c) => `e.${c}`).join(", ");

export interface EventRow {
  id: string;
  account_id: string;
  client_id: string | null;
  session_id: string;
  category: string;
  name: string;
  data: string;
  timestamp_us: number;
  received_at: number;
}

export function eventFromRow(row: EventRow): StoredEvent {
  return {
    id: row.id,
    accountId: row.account_id,
    clientId: row.client_id,
    sessionId: row.session_id,
    category: row.category,
    name: row.name,
    data: row.data,
    timestampUs: row.timestamp_us,
    receivedAt: row.received_at,
  };
}

/** An event's values in EVENT_COLUMNS order. */
export function eventValues(e: StoredEvent): unknown[] {
  return [e.id, e.accountId, e.clientId, e.sessionId, e.category, e.name, e.data, e.timestampUs, e.receivedAt];
}

export const EVENT_TYPE_COLUMNS = "account_id, category, schema, description, version, created_at, updated_at";

export interface EventTypeRow {
  account_id: string;
  category: string;
  schema: string;
  description: string | null;
  version: number;
  created_at: number;
  updated_at: number;
}

export function eventTypeFromRow(row: EventTypeRow): EventType {
  return {
    accountId: row.account_id,
    category: row.category,
    schema: row.schema,
    description: row.description,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface SessionRow {
  session_id: string;
  count: number;
  first_us: number;
  last_us: number;
}

export function sessionFromRow(row: SessionRow): SessionListing {
  return { sessionId: row.session_id, count: row.count, firstUs: row.first_us, lastUs: row.last_us };
}

/**
 * The events of a batch to store, each client id once: the first event naming it stands for the
 * later ones. `firstOf[i]` is the index of the event that event i repeats, or i itself.
 */
export function firstOfEachClientId(events: readonly StoredEvent[]): number[] {
  const first = new Map<string, number>();
  return events.map((e, i) => {
    if (e.clientId === null) return i;
    const key = JSON.stringify([e.accountId, e.clientId]);
    const seen = first.get(key);
    if (seen !== undefined) return seen;
    first.set(key, i);
    return i;
  });
}
