/**
 * The SQLite store's accounts, tokens and destinations, with endpoint health (each
 * destination's failure count, a JSON array of failure times). Tables: migration 2 in ./sqlite.ts.
 */
import type { SqliteDatabase } from "../sqlite.js";
import type { Account, Destination, Token } from "../core/types.js";
import type { AccountPatch, DestinationFailure, DestinationPatch, Page } from "./port.js";
import {
  accountFromRow,
  accountValues,
  DESTINATION_COLUMNS,
  destinationFromRow,
  destinationValues,
  tokenFromRow,
  type AccountRow,
  type DestinationRow,
  type TokenRow,
} from "./rows.js";
import { countFailure, type HealthState } from "../core/endpoint-health.js";
import { patchAccount, patchDestination } from "../core/patches.js";

const ACCOUNT_COLUMNS = "id, name, email, website, metadata, dedupe_window_ms, created_at, updated_at";
const bit = (b: boolean): number => (b ? 1 : 0);
/** Ids sort after "", so a first page has no `after`. */
const after = (page: { after?: string | undefined }): string => page.after ?? "";

export class SqliteAccounts {
  private readonly stmt;

  constructor(private readonly db: SqliteDatabase) {
    const destinationParams = DESTINATION_COLUMNS.split(",").map(() => "?").join(", ");
    this.stmt = {
      createAccount: db.prepare(`INSERT INTO accounts (${ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      getAccount: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`),
      listAccounts: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id > ? ORDER BY id LIMIT ?`),
      updateAccount: db.prepare(
        "UPDATE accounts SET name = ?, email = ?, website = ?, metadata = ?, dedupe_window_ms = ?, updated_at = ? WHERE id = ?",
      ),
      deleteAccount: db.prepare("DELETE FROM accounts WHERE id = ?"),
      deleteAccountTokens: db.prepare("DELETE FROM tokens WHERE account_id = ?"),
      deleteAccountDestinations: db.prepare("DELETE FROM destinations WHERE account_id = ? RETURNING id"),
      deleteAccountHashes: db.prepare("DELETE FROM content_hashes WHERE account_id = ?"),

      createToken: db.prepare("INSERT INTO tokens (id, account_id, name, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)"),
      findToken: db.prepare("SELECT id, account_id, name, created_at, revoked_at FROM tokens WHERE hash = ?"),
      listTokens: db.prepare("SELECT id, account_id, name, created_at, revoked_at FROM tokens WHERE account_id = ? ORDER BY id"),
      revokeToken: db.prepare("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND account_id = ?"),

      createDestination: db.prepare(`INSERT INTO destinations (${DESTINATION_COLUMNS}) VALUES (${destinationParams})`),
      getDestination: db.prepare(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE id = ?`),
      listDestinations: db.prepare(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`),
      accountDestinations: db.prepare(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = ? ORDER BY id`),
      findDestination: db.prepare(
        `SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = ? AND method = ? AND url = ? ORDER BY id LIMIT 1`,
      ),
      updateDestination: db.prepare(
        `UPDATE destinations SET url = ?, method = ?, headers = ?, event_types = ?, enabled = ?, disabled_reason = ?, disabled_at = ?,
           timeout_ms = ?, max_attempts = ?, default_value = ?, rate_limit = ?, concurrency = ?, failure_threshold = ?,
           failure_window_ms = ?, secret = ?, updated_at = ?,
           failures = CASE WHEN ? THEN '[]' ELSE failures END
         WHERE id = ?`,
      ),
      deleteDestination: db.prepare("DELETE FROM destinations WHERE id = ?"),
      health: db.prepare("SELECT enabled, failures FROM destinations WHERE id = ?"),
      setHealth: db.prepare(
        `UPDATE destinations SET failures = ?, enabled = ?,
           disabled_at = CASE WHEN ? THEN ? ELSE disabled_at END,
           disabled_reason = CASE WHEN ? THEN ? ELSE disabled_reason END
         WHERE id = ?`,
      ),
    };
  }

  createAccount(account: Account): void {
    this.stmt.createAccount.run(accountValues(account));
  }

  getAccount(id: string): Account | undefined {
    const row = this.stmt.getAccount.get(id) as AccountRow | undefined;
    return row && accountFromRow(row);
  }

  listAccounts(page: Page): Account[] {
    return (this.stmt.listAccounts.all(after(page), page.limit) as AccountRow[]).map(accountFromRow);
  }

  /**
   * Read-modify-write in one IMMEDIATE transaction: it takes the write lock first, so another
   * process cannot write in between, nor make the upgrade from reading to writing fail.
   */
  private write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  updateAccount(id: string, patch: AccountPatch, now: number): Account | undefined {
    return this.write(() => {
      const current = this.getAccount(id);
      if (!current) return undefined;
      const a = patchAccount(current, patch, now);
      this.stmt.updateAccount.run(a.name, a.email, a.website, JSON.stringify(a.metadata), a.dedupeWindowMs, a.updatedAt, a.id);
      return a;
    });
  }

  deleteAccount(id: string): string[] | undefined {
    return this.write(() => {
      if (this.stmt.deleteAccount.run(id).changes === 0) return undefined;
      this.stmt.deleteAccountTokens.run(id);
      this.stmt.deleteAccountHashes.run(id);
      return (this.stmt.deleteAccountDestinations.pluck().all(id) as string[]).sort();
    });
  }

  createToken(token: Token, hash: Buffer): void {
    this.stmt.createToken.run(token.id, token.accountId, token.name, hash, token.createdAt, token.revokedAt);
  }

  findToken(hash: Buffer): Token | undefined {
    const row = this.stmt.findToken.get(hash) as TokenRow | undefined;
    return row && tokenFromRow(row);
  }

  listTokens(accountId: string): Token[] {
    return (this.stmt.listTokens.all(accountId) as TokenRow[]).map(tokenFromRow);
  }

  revokeToken(accountId: string, tokenId: string, now: number): boolean {
    return this.stmt.revokeToken.run(now, tokenId, accountId).changes > 0;
  }

  createDestination(destination: Destination): void {
    this.stmt.createDestination.run(destinationValues(destination, bit));
  }

  getDestination(id: string): Destination | undefined {
    const row = this.stmt.getDestination.get(id) as DestinationRow | undefined;
    return row && destinationFromRow(row);
  }

  listDestinations(accountId: string, page: Page): Destination[] {
    return (this.stmt.listDestinations.all(accountId, after(page), page.limit) as DestinationRow[]).map(destinationFromRow);
  }

  accountDestinations(accountId: string): Destination[] {
    return (this.stmt.accountDestinations.all(accountId) as DestinationRow[]).map(destinationFromRow);
  }

  findDestination(accountId: string, method: string, url: string): Destination | undefined {
    const row = this.stmt.findDestination.get(accountId, method, url) as DestinationRow | undefined;
    return row && destinationFromRow(row);
  }

  updateDestination(id: string, patch: DestinationPatch, now: number): Destination | undefined {
    return this.write(() => {
      const current = this.getDestination(id);
      if (!current) return undefined;
      const { destination: d, clearFailures } = patchDestination(current, patch, now);
      this.stmt.updateDestination.run(
        d.url,
        d.method,
        JSON.stringify(d.headers),
        JSON.stringify(d.eventTypes),
        bit(d.enabled),
        d.disabledReason,
        d.disabledAt,
        d.timeoutMs,
        d.maxAttempts,
        d.defaultValue,
        d.rateLimit,
        d.concurrency,
        d.failureThreshold,
        d.failureWindowMs,
        d.secret,
        d.updatedAt,
        bit(clearFailures),
        d.id,
      );
      return d;
    });
  }

  deleteDestination(id: string): boolean {
    return this.stmt.deleteDestination.run(id).changes > 0;
  }

  /** One write transaction for the whole batch: no other process counts in between. */
  recordFailures(failures: DestinationFailure[]): string[] {
    return this.write(() => {
      const states = new Map<string, HealthState & { reason?: string; at?: number }>();
      const disabled: string[] = [];
      for (const f of failures) {
        let state = states.get(f.destinationId);
        if (!state) {
          const row = this.stmt.health.get(f.destinationId) as { enabled: number; failures: string } | undefined;
          if (!row) continue; // deleted meanwhile
          state = { enabled: row.enabled === 1, failures: JSON.parse(row.failures) as number[] };
          states.set(f.destinationId, state);
        }
        if (!state.enabled) continue;
        const counted = countFailure(state, f);
        if (counted.state === state) continue; // not counted (threshold 0)
        states.set(f.destinationId, { ...counted.state, reason: counted.disabledReason, at: f.at });
        if (counted.disabledReason !== undefined) disabled.push(f.destinationId);
      }
      for (const [id, s] of states) {
        if (s.at === undefined) continue; // nothing counted
        const off = s.reason !== undefined;
        this.stmt.setHealth.run(JSON.stringify(s.failures), bit(s.enabled), bit(off), s.at, bit(off), s.reason ?? null, id);
      }
      return disabled;
    });
  }
}
