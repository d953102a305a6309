/**
 * Idempotency keys: what a request repeating a key gets. Both SQL stores read the key's entry
 * and let judgeClaim decide (the Postgres one also encodes "take" in its claiming statement,
 * which must say the same), so every backend answers a repeat alike.
 */

/** What an idempotency key holds. */
export type IdempotencyClaim =
  /** The key is new (or expired): the caller owns it and must complete or release it. */
  | { kind: "claimed" }
  /** A request with this key was answered: send the same answer again. */
  | { kind: "answered"; status: number; body: string }
  /**
   * A request with this key was answered 503 because the queue did not confirm whether it
   * stored the postbacks (a lost connection or a timeout after the call was sent). `pending` is
   * what was recorded to find out (src/api/idempotency.ts): a retry must learn whether they were
   * queued before queuing anything, or it could queue them twice.
   */
  | { kind: "unresolved"; pending: string }
  /** A request with this key is being handled right now. */
  | { kind: "in_progress" }
  /** The key was used with a different request body. */
  | { kind: "mismatch" };

/** An idempotency key as stored. */
export interface IdempotencyEntry {
  fingerprint: string;
  claimedAt: number;
  /** null while claimed and not answered. */
  answeredAt: number | null;
  /** The answer's status; null with answeredAt set when the outcome is unresolved. */
  status: number | null;
  /** The answer's body, or what an unresolved entry recorded to find out. */
  body: string | null;
}

/**
 * What a claim on a key finds: an answer to give, or "take" when the caller may (re)claim it —
 * the key is new, expired (answered or claimed longer than `ttlMs` ago), or a claim older than
 * `staleMs` with the same fingerprint was never answered.
 */
export function judgeClaim(
  entry: IdempotencyEntry | undefined,
  fingerprint: string,
  now: number,
  ttlMs: number,
  staleMs: number,
): Exclude<IdempotencyClaim, { kind: "claimed" }> | "take" {
  if (!entry || (entry.answeredAt ?? entry.claimedAt) < now - ttlMs) return "take";
  if (entry.fingerprint !== fingerprint) return { kind: "mismatch" };
  if (entry.answeredAt !== null) {
    return entry.status === null ? { kind: "unresolved", pending: entry.body ?? "" } : { kind: "answered", status: entry.status, body: entry.body ?? "" };
  }
  return entry.claimedAt < now - staleMs ? "take" : { kind: "in_progress" };
}
