/**
 * The Postgres DedupeStore: idempotency keys and content hashes (duplicate detection). A claim and a
 * mark are each one INSERT ... ON CONFLICT statement, so concurrent requests in any number of
 * processes cannot both own one key, nor both see one hash as new. Schema: migration 2 in
 * ./postgres-migrations.ts.
 */
import type { DedupeStore, IdempotencyClaim } from "./port.js";
import type { PostgresDb } from "./postgres-db.js";
import { judgeClaim, type IdempotencyEntry } from "../core/idempotency.js";

// Takes the key when it is new, expired, or a stale claim of the same request: exactly what
// judgeClaim calls "take". Returns a row only when this call owns the key.
const CLAIM_SQL = `
INSERT INTO idempotency_keys AS k (scope, key, fingerprint, claimed_at) VALUES ($1, $2, $3, $4::bigint)
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, claimed_at = excluded.claimed_at,
  answered_at = NULL, status = NULL, body = NULL
WHERE coalesce(k.answered_at, k.claimed_at) < $4::bigint - $5::bigint
   OR (k.answered_at IS NULL AND k.fingerprint = excluded.fingerprint AND k.claimed_at < $4::bigint - $6::bigint)
RETURNING 1`;

// prev_seen_at keeps the time the row held before this statement, read under the row's lock:
// NULL for a hash seen for the first time (or first since it was pruned).
const MARK_SQL = `
INSERT INTO content_hashes AS c (account_id, hash, seen_at)
SELECT $1, h, $2::bigint FROM unnest($3::text[]) AS h
ON CONFLICT (account_id, hash) DO UPDATE SET prev_seen_at = c.seen_at, seen_at = greatest(c.seen_at, excluded.seen_at)
RETURNING hash, prev_seen_at`;

const PRUNE_SQL = `
WITH keys AS (DELETE FROM idempotency_keys WHERE coalesce(answered_at, claimed_at) < $1)
DELETE FROM content_hashes WHERE seen_at < $1`;

/** Postgres text cannot hold U+0000; a stored answer is Ferry's own JSON, which escapes it. */
function text(s: string): string {
  return s.includes("\u0000") ? s.replaceAll("\u0000", "\uFFFD") : s;
}

export class PostgresDedupeStore implements DedupeStore {
  constructor(private readonly db: PostgresDb) {}

  async claimIdempotencyKey(scope: string, key: string, fingerprint: string, now: number, ttlMs: number, staleMs: number): Promise<IdempotencyClaim> {
    // The row read after a failed claim may change before it is read (answered, released,
    // claimed anew): then judge again. Each round is a change made by another request.
    for (let round = 0; round < 5; round++) {
      const claimed = await this.db.query({ name: "ferry_claim_key", text: CLAIM_SQL, values: [scope, key, fingerprint, now, ttlMs, staleMs] });
      if (claimed.rowCount) return { kind: "claimed" };
      const { rows } = await this.db.query<IdempotencyEntry>({
        name: "ferry_get_key",
        text: `SELECT fingerprint, claimed_at AS "claimedAt", answered_at AS "answeredAt", status, body
               FROM idempotency_keys WHERE scope = $1 AND key = $2`,
        values: [scope, key],
      });
      const judged = judgeClaim(rows[0], fingerprint, now, ttlMs, staleMs);
      if (judged !== "take") return judged;
    }
    return { kind: "in_progress" };
  }

  async answerIdempotencyKey(scope: string, key: string, status: number, body: string, now: number): Promise<void> {
    await this.db.query("UPDATE idempotency_keys SET answered_at = $3, status = $4, body = $5 WHERE scope = $1 AND key = $2", [
      scope,
      key,
      now,
      status,
      text(body),
    ]);
  }

  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    await this.db.query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND answered_at IS NULL", [scope, key]);
  }

  async leaveIdempotencyKeyUnresolved(scope: string, key: string, pending: string, now: number): Promise<void> {
    await this.db.query("UPDATE idempotency_keys SET answered_at = $3, status = NULL, body = $4 WHERE scope = $1 AND key = $2", [scope, key, now, text(pending)]);
  }

  async retakeIdempotencyKey(scope: string, key: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      "UPDATE idempotency_keys SET claimed_at = $3, answered_at = NULL, body = NULL WHERE scope = $1 AND key = $2 AND answered_at IS NOT NULL AND status IS NULL",
      [scope, key, now],
    );
    return rowCount === 1;
  }

  async markSeen(accountId: string, hashes: string[], now: number, windowMs: number): Promise<boolean[]> {
    if (hashes.length === 0) return [];
    // Each hash once per statement (ON CONFLICT updates a row at most once), in sorted order so
    // that concurrent calls lock rows in one order and cannot deadlock.
    const unique = [...new Set(hashes)].sort();
    const { rows } = await this.db.query<{ hash: string; prev_seen_at: number | null }>({
      name: "ferry_mark_seen",
      text: MARK_SQL,
      values: [accountId, now, unique],
    });
    const before = new Map(rows.map((r) => [r.hash, r.prev_seen_at]));
    const seen = new Set<string>();
    return hashes.map((hash) => {
      if (seen.has(hash)) return true;
      seen.add(hash);
      const at = before.get(hash);
      return at !== null && at !== undefined && at >= now - windowMs;
    });
  }

  async unmarkSeen(accountId: string, hashes: string[]): Promise<void> {
    if (hashes.length === 0) return;
    await this.db.query("DELETE FROM content_hashes WHERE account_id = $1 AND hash = ANY($2::text[])", [accountId, hashes]);
  }

  async pruneDedupe(before: number): Promise<void> {
    await this.db.query(PRUNE_SQL, [before]);
  }
}
