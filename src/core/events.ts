/**
 * Events (seed 001): what a trusted application reports happened in one of its sessions. Ferry
 * stores them for querying by session, category and time, and fans each one out to the
 * account's destinations subscribed to its category.
 *
 * This file holds the shapes every layer shares; parsing and validation live beside them.
 */

/**
 * An event's own time, to the microsecond: seed 001 sends `2021-09-26 09:15:27.243860`, and a
 * millisecond Date would drop the last three digits. Microseconds since the Unix epoch fit a
 * double exactly until the year 2255.
 */
export type EventTimeUs = number;

/** An event as stored. */
export interface StoredEvent {
  /** `evt_` + ULID, made by Ferry when the event is received: ties in time sort by arrival. */
  id: string;
  accountId: string;
  /** The id the client gave the event, unique per account; null when it gave none. */
  clientId: string | null;
  sessionId: string;
  category: string;
  /** The application that sent it. */
  name: string;
  /** The event's `data` object as JSON text. */
  data: string;
  /** When the event happened, by the sender's clock. */
  timestampUs: EventTimeUs;
  /** When Ferry received it (ms since the epoch): retention counts from here. */
  receivedAt: number;
}

/** A category's JSON Schema for `data`, as registered. */
export interface EventType {
  accountId: string;
  category: string;
  /** The JSON Schema as JSON text. */
  schema: string;
  description: string | null;
  /** 1 for the first schema of the category, one more each time it is replaced. */
  version: number;
  createdAt: number;
  updatedAt: number;
}
