import { createHash, randomFillSync } from "node:crypto";
import { monotonicFactory } from "ulid";
import type { Endpoint } from "./types.js";

// ULIDs sort by creation time, so ids stored as primary keys append to the end of the
// index instead of landing at random pages (cheaper inserts in SQLite and Postgres), and a
// listing by id is a listing by time. Monotonic: ids made in the same millisecond still sort.
const next = monotonicFactory(pooledRandom());

/**
 * ulid's own PRNG asks crypto for one byte per character: 16 calls for each new millisecond,
 * 8–12% of the API's CPU in a profile at 1,000 ingest requests/s (issue 16). The same
 * cryptographic bytes, fetched 4 KiB at a time.
 */
function pooledRandom(): () => number {
  const pool = Buffer.alloc(4096);
  let at = pool.length;
  return () => {
    if (at === pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    return pool[at++]! / 256;
  };
}

/** A new postback id, e.g. `pb_01JD3Q8Y2M5V7W9X0Z1A2B3C4D`. Sent as `webhook-id`. */
export function newPostbackId(now: number = Date.now()): string {
  return "pb_" + next(now);
}

/**
 * An endpoint's id: a digest of what it is, so every ingest request naming the same endpoint
 * shares one id, and a worker that knows it need not fetch the template again.
 */
export function endpointId(endpoint: Omit<Endpoint, "id">): string {
  const digest = createHash("sha256")
    .update(
      `${endpoint.method}\n${endpoint.maxAttempts}\n${endpoint.defaultValue.length}:${endpoint.defaultValue}\n` +
        // Inline endpoints keep the ids they always had; an owner or destination makes another.
        (endpoint.accountId || endpoint.destinationId ? `${endpoint.accountId ?? ""}\n${endpoint.destinationId ?? ""}\n` : "") +
        endpoint.url,
    )
    .digest("base64url");
  return "ep_" + digest.slice(0, 22);
}

export const newAccountId = (now: number = Date.now()): string => "acct_" + next(now);
export const newTokenId = (now: number = Date.now()): string => "tok_" + next(now);
export const newDestinationId = (now: number = Date.now()): string => "dst_" + next(now);

/** True for a string shaped like an id made by `newPostbackId`. */
export function isPostbackId(value: string): boolean {
  return /^pb_[0-9A-HJKMNP-TV-Z]{26}$/.test(value);
}

/** A new event id, e.g. `evt_01JD3Q8Y2M5V7W9X0Z1A2B3C4D`: events received in one session sort by arrival. */
export const newEventId = (now: number = Date.now()): string => "evt_" + next(now);

/**
 * A new broadcast id, e.g. `bc_01JD3Q8Y2M5V7W9X0Z1A2B3C4D`: names one broadcast (a provider's
 * event sent to every subscribed account), the same in every postback it made.
 */
export const newBroadcastId = (now: number = Date.now()): string => "bc_" + next(now);

/** True for a string shaped like an id made by `newEventId`. */
export function isEventId(value: string): boolean {
  return /^evt_[0-9A-HJKMNP-TV-Z]{26}$/.test(value);
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The id of an event's postback to one destination: the event's time (the first 10 ULID
 * characters), so postbacks sort by when their event came, then 16 characters of a digest of
 * event and destination. Fanning the same event out again, after a crash between queueing and
 * marking it done, makes the same ids, so the queue refuses the repeat, and a receiver that
 * sees one twice can tell by its `webhook-id`.
 */
export function eventPostbackId(eventId: string, destinationId: string): string {
  const digest = createHash("sha256").update(`${eventId}\n${destinationId}`).digest();
  let tail = "";
  // 16 characters of 5 bits: the first 80 bits of the digest.
  let bits = 0;
  let value = 0;
  for (let i = 0; tail.length < 16; ) {
    if (bits < 5) {
      value = (value << 8) | digest[i++]!;
      bits += 8;
    }
    bits -= 5;
    tail += CROCKFORD[(value >> bits) & 31];
    value &= (1 << bits) - 1;
  }
  return "pb_" + eventId.slice(4, 14) + tail;
}
