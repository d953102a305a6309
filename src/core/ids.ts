import { monotonicFactory } from "ulid";

// ULIDs sort by creation time, so ids stored as primary keys append to the end of the
// index instead of landing at random pages (cheaper inserts in SQLite and Postgres), and a
// listing by id is a listing by time. Monotonic: ids made in the same millisecond still sort.
const next = monotonicFactory();

/** A new postback id, e.g. `pb_01JD3Q8Y2M5V7W9X0Z1A2B3C4D`. Sent as `webhook-id`. */
export function newPostbackId(now: number = Date.now()): string {
  return "pb_" + next(now);
}

/** A new endpoint id: one per ingest request, shared by its postbacks. */
export function newEndpointId(now: number = Date.now()): string {
  return "ep_" + next(now);
}

/** True for a string shaped like an id made by `newPostbackId`. */
export function isPostbackId(value: string): boolean {
  return /^pb_[0-9A-HJKMNP-TV-Z]{26}$/.test(value);
}
