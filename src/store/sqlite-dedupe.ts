/**
 * The SQLite DedupeStore: idempotency keys and content hashes (duplicate detection). Each method is
 * one IMMEDIATE transaction, so two processes claiming one key or marking one hash take turns.
 * Tables: migration 2 in ./sqlite.ts.
 */
import type { SqliteDatabase } from "../sqlite.js";
import type { DedupeStore, IdempotencyClaim } from "./port.js";
import { judgeClaim, type IdempotencyEntry } from "../core/idempotency.js";
import { onSqlite } from "./sqlite-errors.js";

interface KeyRow {
  fingerprint: string;
  claimed_at: number;
  answered_at: number | null;
  status: number | null;
  body: string | null;
}

export class SqliteDedupeStore implements DedupeStore {
  private readonly stmt;

  /** `db` must be migrated (openSqliteStores does it). */
  constructor(private readonly db: SqliteDatabase) {
    this.stmt = {
      getKey: db.prepare("SELECT fingerprint, claimed_at, answered_at, status, body FROM idempotency_keys WHERE scope = ? AND key = ?"),
      claimKey: db.prepare(
        `INSERT INTO idempotency_keys (scope, key, fingerprint, claimed_at, answered_at, status, body) VALUES (?, ?, ?, ?, NULL, NULL, NULL)
         ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, claimed_at = excluded.claimed_at,
           answered_at = NULL, status = NULL, body = NULL`,
      ),
      answerKey: db.prepare("UPDATE idempotency_keys SET answered_at = ?, status = ?, body = ? WHERE scope = ? AND key = ?"),
      releaseKey: db.prepare("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND answered_at IS NULL"),
      leaveUnresolved: db.prepare("UPDATE idempotency_keys SET answered_at = ?, status = NULL, body = ? WHERE scope = ? AND key = ?"),
      retakeKey: db.prepare(
        "UPDATE idempotency_keys SET claimed_at = ?, answered_at = NULL, body = NULL WHERE scope = ? AND key = ? AND answered_at IS NOT NULL AND status IS NULL",
      ),
      seenAt: db.prepare("SELECT seen_at FROM content_hashes WHERE account_id = ? AND hash = ?").pluck(),
      markSeen: db.prepare(
        `INSERT INTO content_hashes (account_id, hash, seen_at) VALUES (?, ?, ?)
         ON CONFLICT (account_id, hash) DO UPDATE SET seen_at = max(seen_at, excluded.seen_at)`,
      ),
      pruneKeys: db.prepare("DELETE FROM idempotency_keys WHERE coalesce(answered_at, claimed_at) < ?"),
      pruneHashes: db.prepare("DELETE FROM content_hashes WHERE seen_at < ?"),
      unmark: db.prepare("DELETE FROM content_hashes WHERE account_id = ? AND hash = ?"),
    };
  }

  /** Runs one call on the database, its errors translated (an outage is StoreUnavailableError). */
  private run<T>(fn: () => T): T {
    return onSqlite(this.db, fn);
  }

  async claimIdempotencyKey(scope: string, key: string, fingerprint: string, now: number, ttlMs: number, staleMs: number): Promise<IdempotencyClaim> {
    return this.run(() =>
      this.db
        .transaction((): IdempotencyClaim => {
          const row = this.stmt.getKey.get(scope, key) as KeyRow | undefined;
          const entry: IdempotencyEntry | undefined = row && {
            fingerprint: row.fingerprint,
            claimedAt: row.claimed_at,
            answeredAt: row.answered_at,
            status: row.status,
            body: row.body,
          };
          const judged = judgeClaim(entry, fingerprint, now, ttlMs, staleMs);
          if (judged !== "take") return judged;
          this.stmt.claimKey.run(scope, key, fingerprint, now);
          return { kind: "claimed" };
        })
        .immediate(),
    );
  }

  async answerIdempotencyKey(scope: string, key: string, status: number, body: string, now: number): Promise<void> {
    this.run(() => this.stmt.answerKey.run(now, status, body, scope, key));
  }

  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    this.run(() => this.stmt.releaseKey.run(scope, key));
  }

  async leaveIdempotencyKeyUnresolved(scope: string, key: string, pending: string, now: number): Promise<void> {
    this.run(() => this.stmt.leaveUnresolved.run(now, pending, scope, key));
  }

  async retakeIdempotencyKey(scope: string, key: string, now: number): Promise<boolean> {
    return this.run(() => this.stmt.retakeKey.run(now, scope, key).changes === 1);
  }

  async markSeen(accountId: string, hashes: string[], now: number, windowMs: number): Promise<boolean[]> {
    if (hashes.length === 0) return [];
    return this.run(() =>
      this.db
        .transaction((): boolean[] =>
          hashes.map((hash) => {
            const seenAt = this.stmt.seenAt.get(accountId, hash) as number | undefined;
            this.stmt.markSeen.run(accountId, hash, now);
            return seenAt !== undefined && seenAt >= now - windowMs;
          }),
        )
        .immediate(),
    );
  }

  async unmarkSeen(accountId: string, hashes: string[]): Promise<void> {
    this.run(() =>
      this.db.transaction(() => {
        for (const hash of hashes) this.stmt.unmark.run(accountId, hash);
      })(),
    );
  }

  async pruneDedupe(before: number): Promise<void> {
    this.run(() =>
      this.db.transaction(() => {
        this.stmt.pruneKeys.run(before);
        this.stmt.pruneHashes.run(before);
      })(),
    );
  }
}
