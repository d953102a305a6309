/**
 * The SQLite AccountStore: accounts, tokens and destinations, with endpoint health (each
 * destination's failure count, a JSON array of failure times). Tables: migration 2 in ./sqlite.ts.
 * better-sqlite3 is synchronous: each method does its work before it returns its promise.
 */
import type { SqliteDatabase } from "../sqlite.js";
import { DISABLED_GONE, type Account, type Destination, type Token } from "../core/types.js";
import { DuplicateExternalIdError, DuplicateIdError } from "../core/port-errors.js";
import type { AccountPatch, AccountStore, DestinationFailure, DestinationPatch, Page } from "./port.js";
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
import { isDuplicateExternalId, isDuplicateKey, onSqlite } from "./sqlite-errors.js";

const ACCOUNT_COLUMNS = "id, name, email, website, metadata, dedupe_window_ms, created_at, updated_at, strict_event_types, event_retention_ms, external_id";
const bit = (b: boolean): number => (b ? 1 : 0);
/** Ids sort after "", so a first page has no `after`. */
const after = (page: { after?: string | undefined }): string => page.after ?? "";

export class SqliteAccountStore implements AccountStore {
  private readonly stmt;

  /** `db` must be migrated (openSqliteStores does it). */
  constructor(private readonly db: SqliteDatabase) {
    const destinationParams = DESTINATION_COLUMNS.split(",").map(() => "?").join(", ");
    this.stmt = {
      createAccount: db.prepare(`INSERT INTO accounts (${ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      findAccountByExternalId: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE external_id = ?`),
      getAccount: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`),
      listAccounts: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id > ? ORDER BY id LIMIT ?`),
      updateAccount: db.prepare(
        "UPDATE accounts SET name = ?, email = ?, website = ?, metadata = ?, dedupe_window_ms = ?, updated_at = ?, strict_event_types = ?, event_retention_ms = ?, external_id = ? WHERE id = ?",
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
      listAllDestinations: db.prepare(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE id > ? ORDER BY id LIMIT ?`),
      accountDestinations: db.prepare(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = ? ORDER BY id`),
      findDestination: db.prepare(
        `SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = ? AND method = ? AND url = ? ORDER BY id LIMIT 1`,
      ),
      updateDestination: db.prepare(
        `UPDATE destinations SET url = ?, method = ?, headers = ?, event_types = ?, enabled = ?, disabled_reason = ?, disabled_at = ?,
           timeout_ms = ?, max_attempts = ?, default_value = ?, rate_limit = ?, concurrency = ?, failure_threshold = ?,
           failure_window_ms = ?, secret = ?, updated_at = ?, on_disable = ?,
           rate_limit_burst = ?, ordering = ?, ordering_key = ?, paused_until = ?, pause_reason = ?,
           failures = CASE WHEN ? THEN '[]' ELSE failures END
         WHERE id = ?`,
      ),
      deleteDestination: db.prepare("DELETE FROM destinations WHERE id = ?"),
      pauseDestination: db.prepare(
        "UPDATE destinations SET paused_until = ?, pause_reason = ? WHERE id = ? AND (paused_until IS NULL OR paused_until < ?)",
      ),
      health: db.prepare("SELECT enabled, failures FROM destinations WHERE id = ?"),
      setHealth: db.prepare(
        `UPDATE destinations SET failures = ?, enabled = ?,
           disabled_at = CASE WHEN ? THEN ? ELSE disabled_at END,
           disabled_reason = CASE WHEN ? THEN ? ELSE disabled_reason END
         WHERE id = ?`,
      ),
    };
  }

  /** Runs one call on the database, its errors translated (an outage is StoreUnavailableError). */
  private run<T>(fn: () => T): T {
    return onSqlite(this.db, fn);
  }

  /**
   * Read-modify-write in one IMMEDIATE transaction: it takes the write lock first, so another
   * process cannot write in between, nor make the upgrade from reading to writing fail.
   */
  private write<T>(fn: () => T): T {
    return this.run(() => this.db.transaction(fn).immediate());
  }

  /** Inserts a row; a primary-key violation is the caller's duplicate id, named as such. */
  private insert(id: string, fn: () => unknown): void {
    try {
      this.run(fn);
    } catch (err) {
      throw isDuplicateKey(err) ? new DuplicateIdError("store", id) : err;
    }
  }

  private readAccount(id: string): Account | undefined {
    const row = this.stmt.getAccount.get(id) as AccountRow | undefined;
    return row && accountFromRow(row);
  }

  private readDestination(id: string): Destination | undefined {
    const row = this.stmt.getDestination.get(id) as DestinationRow | undefined;
    return row && destinationFromRow(row);
  }

  async createAccount(account: Account): Promise<void> {
    try {
      this.insert(account.id, () => this.stmt.createAccount.run(accountValues(account, bit)));
    } catch (err) {
      throw isDuplicateExternalId(err) ? new DuplicateExternalIdError(account.externalId!) : err;
    }
  }

  async findAccountByExternalId(externalId: string): Promise<Account | undefined> {
    const row = this.run(() => this.stmt.findAccountByExternalId.get(externalId)) as AccountRow | undefined;
    return row && accountFromRow(row);
  }

  async getAccount(id: string): Promise<Account | undefined> {
    return this.run(() => this.readAccount(id));
  }

  async listAccounts(page: Page): Promise<Account[]> {
    return (this.run(() => this.stmt.listAccounts.all(after(page), page.limit)) as AccountRow[]).map(accountFromRow);
  }

  async updateAccount(id: string, patch: AccountPatch, now: number): Promise<Account | undefined> {
    return this.write(() => {
      const current = this.readAccount(id);
      if (!current) return undefined;
      const a = patchAccount(current, patch, now);
      try {
        this.stmt.updateAccount.run(a.name, a.email, a.website, JSON.stringify(a.metadata), a.dedupeWindowMs, a.updatedAt, bit(a.strictEventTypes), a.eventRetentionMs, a.externalId, a.id);
      } catch (err) {
        throw isDuplicateExternalId(err) ? new DuplicateExternalIdError(a.externalId!) : err;
      }
      return a;
    });
  }

  /** Its content hashes (the DedupeStore's table) go too: they are the account's data. */
  async deleteAccount(id: string): Promise<string[] | undefined> {
    return this.write(() => {
      if (this.stmt.deleteAccount.run(id).changes === 0) return undefined;
      this.stmt.deleteAccountTokens.run(id);
      this.stmt.deleteAccountHashes.run(id);
      return (this.stmt.deleteAccountDestinations.pluck().all(id) as string[]).sort();
    });
  }

  /** Another token with the same hash violates the UNIQUE index, not the primary key: a plain error. */
  async createToken(token: Token, hash: Buffer): Promise<void> {
    this.insert(token.id, () => this.stmt.createToken.run(token.id, token.accountId, token.name, hash, token.createdAt, token.revokedAt));
  }

  async findToken(hash: Buffer): Promise<Token | undefined> {
    const row = this.run(() => this.stmt.findToken.get(hash)) as TokenRow | undefined;
    return row && tokenFromRow(row);
  }

  async listTokens(accountId: string): Promise<Token[]> {
    return (this.run(() => this.stmt.listTokens.all(accountId)) as TokenRow[]).map(tokenFromRow);
  }

  async revokeToken(accountId: string, tokenId: string, now: number): Promise<boolean> {
    return this.run(() => this.stmt.revokeToken.run(now, tokenId, accountId)).changes > 0;
  }

  async createDestination(destination: Destination): Promise<void> {
    this.insert(destination.id, () => this.stmt.createDestination.run(destinationValues(destination, bit)));
  }

  async getDestination(id: string): Promise<Destination | undefined> {
    return this.run(() => this.readDestination(id));
  }

  async listDestinations(accountId: string, page: Page): Promise<Destination[]> {
    return (this.run(() => this.stmt.listDestinations.all(accountId, after(page), page.limit)) as DestinationRow[]).map(destinationFromRow);
  }

  async listAllDestinations(page: Page): Promise<Destination[]> {
    return (this.run(() => this.stmt.listAllDestinations.all(after(page), page.limit)) as DestinationRow[]).map(destinationFromRow);
  }

  async accountDestinations(accountId: string): Promise<Destination[]> {
    return (this.run(() => this.stmt.accountDestinations.all(accountId)) as DestinationRow[]).map(destinationFromRow);
  }

  async findDestination(accountId: string, method: string, url: string): Promise<Destination | undefined> {
    const row = this.run(() => this.stmt.findDestination.get(accountId, method, url)) as DestinationRow | undefined;
    return row && destinationFromRow(row);
  }

  async updateDestination(id: string, patch: DestinationPatch, now: number): Promise<Destination | undefined> {
    return this.write(() => this.patchDestinationRow(id, patch, now));
  }

  /**
   * Disables a destination that answered 410 Gone, in the caller's transaction (the embedded
   * FinishAndTake, ./sqlite-finished-work.ts). False when it is gone or disabled already (by
   * another worker's 410, or by its owner, whose reason stays): disabled and counted once.
   */
  disableGoneWithin(id: string, now: number): boolean {
    if (!this.readDestination(id)?.enabled) return false;
    this.patchDestinationRow(id, { enabled: false, disabledReason: DISABLED_GONE }, now);
    return true;
  }

  /** pauseDestination, in the caller's transaction. */
  pauseWithin(id: string, until: number, reason: string): boolean {
    return this.stmt.pauseDestination.run(until, reason, id, until).changes > 0;
  }

  private patchDestinationRow(id: string, patch: DestinationPatch, now: number): Destination | undefined {
    const current = this.readDestination(id);
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
      d.onDisable,
      d.rateLimitBurst,
      d.ordering,
      d.orderingKey,
      d.pausedUntil,
      d.pauseReason,
      bit(clearFailures),
      d.id,
    );
    return d;
  }

  async countDisabledDestinations(): Promise<number> {
    // A scan of the destinations table, which holds a few per account: no index is worth it.
    return this.run(() => this.db.prepare("SELECT count(*) FROM destinations WHERE enabled = 0").pluck().get() as number);
  }

  async pauseDestination(id: string, until: number, reason: string): Promise<boolean> {
    return this.run(() => this.pauseWithin(id, until, reason));
  }

  async deleteDestination(id: string): Promise<boolean> {
    return this.run(() => this.stmt.deleteDestination.run(id)).changes > 0;
  }

  /** One write transaction for the whole batch: no other process counts in between. */
  async recordFailures(failures: DestinationFailure[]): Promise<string[]> {
    if (failures.length === 0) return [];
    return this.write(() => this.recordFailuresWithin(failures));
  }

  /** recordFailures in the caller's transaction: the destinations it disabled. */
  recordFailuresWithin(failures: DestinationFailure[]): string[] {
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
  }
}
