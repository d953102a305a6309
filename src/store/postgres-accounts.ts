/**
 * The Postgres AccountStore: accounts, tokens and destinations, with endpoint health: each
 * destination's counted failures are a bigint[] of failure times on its row, counted under the
 * row's lock (SELECT ... FOR UPDATE), so several worker processes count atomically. Schema:
 * migration 2 in ./postgres-migrations.ts.
 */
import type { Account, Destination, Token } from "../core/types.js";
import { DuplicateExternalIdError, DuplicateIdError } from "../core/port-errors.js";
import type { AccountPatch, AccountStore, DestinationFailure, DestinationPatch, Page } from "./port.js";
import type { PostgresDb } from "./postgres-db.js";
import { isDuplicateExternalId, isDuplicateKey } from "./postgres-errors.js";
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

const ACCOUNT_COLUMNS = "id, name, email, website, metadata, dedupe_window_ms, created_at, updated_at, strict_event_types, event_retention_ms, external_id";
const TOKEN_COLUMNS = "id, account_id, name, created_at, revoked_at";
const DESTINATION_PARAMS = DESTINATION_COLUMNS.split(",").map((_, i) => `$${i + 1}`).join(", ");
/** Ids sort after "", so a first page has no `after`. */
const after = (page: Page): string => page.after ?? "";
const asIs = (b: boolean): boolean => b;

// One statement, so one transaction. Ids of the destinations deleted in id order.
const DELETE_ACCOUNT_SQL = `
WITH account AS (
  DELETE FROM accounts WHERE id = $1 RETURNING id
), tokens AS (
  DELETE FROM tokens WHERE account_id IN (SELECT id FROM account)
), hashes AS (
  DELETE FROM content_hashes WHERE account_id IN (SELECT id FROM account)
), destinations AS (
  DELETE FROM destinations WHERE account_id IN (SELECT id FROM account) RETURNING id
)
SELECT EXISTS (SELECT FROM account) AS found, coalesce((SELECT array_agg(id ORDER BY id) FROM destinations), '{}') AS destinations`;

// Every column from the patched destination (id, owner and creation time unchanged).
const UPDATE_DESTINATION_SQL = `
UPDATE destinations SET (${DESTINATION_COLUMNS}) = (${DESTINATION_PARAMS}),
  failures = CASE WHEN $${DESTINATION_COLUMNS.split(",").length + 1} THEN '{}' ELSE failures END
WHERE id = $1`;

// Locks the rows in id order, so that two processes counting failures of the same
// destinations wait for each other instead of deadlocking.
const LOCK_HEALTH_SQL = `
SELECT id, enabled, to_json(failures) AS failures FROM destinations WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`;

const SET_HEALTH_SQL = `
UPDATE destinations d SET failures = u.failures, enabled = u.enabled,
  disabled_at = CASE WHEN u.enabled THEN d.disabled_at ELSE u.disabled_at END,
  disabled_reason = CASE WHEN u.enabled THEN d.disabled_reason ELSE u.disabled_reason END
FROM json_to_recordset($1::json) AS u(id text, failures bigint[], enabled boolean, disabled_at bigint, disabled_reason text)
WHERE d.id = u.id`;

/**
 * A primary-key violation on insert is the caller's duplicate id, not an outage nor a plain
 * failure; so is an account's external id that another account has.
 */
async function inserting(id: string, insert: Promise<unknown>, externalId?: string | null): Promise<void> {
  try {
    await insert;
  } catch (err) {
    if (isDuplicateExternalId(err)) throw new DuplicateExternalIdError(externalId ?? "");
    throw isDuplicateKey(err) ? new DuplicateIdError("store", id) : err;
  }
}

export class PostgresAccountStore implements AccountStore {
  constructor(private readonly db: PostgresDb) {}

  createAccount(account: Account): Promise<void> {
    return inserting(account.id, this.db.query(`INSERT INTO accounts (${ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, accountValues(account, asIs)), account.externalId);
  }

  async findAccountByExternalId(externalId: string): Promise<Account | undefined> {
    const { rows } = await this.db.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE external_id = $1`, [externalId]);
    return rows[0] && accountFromRow(rows[0]);
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const { rows } = await this.db.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1`, [id]);
    return rows[0] && accountFromRow(rows[0]);
  }

  async listAccounts(page: Page): Promise<Account[]> {
    const { rows } = await this.db.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2`, [
      after(page),
      page.limit,
    ]);
    return rows.map(accountFromRow);
  }

  updateAccount(id: string, patch: AccountPatch, now: number): Promise<Account | undefined> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 FOR UPDATE`, [id]);
      if (!rows[0]) return undefined;
      const a = patchAccount(accountFromRow(rows[0]), patch, now);
      await inserting(
        a.id,
        client.query(
          "UPDATE accounts SET name = $2, email = $3, website = $4, metadata = $5, dedupe_window_ms = $6, updated_at = $7, strict_event_types = $8, event_retention_ms = $9, external_id = $10 WHERE id = $1",
          [a.id, a.name, a.email, a.website, JSON.stringify(a.metadata), a.dedupeWindowMs, a.updatedAt, a.strictEventTypes, a.eventRetentionMs, a.externalId],
        ),
        a.externalId,
      );
      return a;
    });
  }

  async deleteAccount(id: string): Promise<string[] | undefined> {
    const { rows } = await this.db.query<{ found: boolean; destinations: string[] }>(DELETE_ACCOUNT_SQL, [id]);
    return rows[0]?.found ? rows[0].destinations : undefined;
  }

  createToken(token: Token, hash: Buffer): Promise<void> {
    // Another token with the same hash violates tokens_hash_key, not the primary key: a plain error.
    return inserting(
      token.id,
      this.db.query("INSERT INTO tokens (id, account_id, name, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)", [
        token.id,
        token.accountId,
        token.name,
        hash,
        token.createdAt,
        token.revokedAt,
      ]),
    );
  }

  async findToken(hash: Buffer): Promise<Token | undefined> {
    const { rows } = await this.db.query<TokenRow>({ name: "ferry_find_token", text: `SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = $1`, values: [hash] });
    return rows[0] && tokenFromRow(rows[0]);
  }

  async listTokens(accountId: string): Promise<Token[]> {
    const { rows } = await this.db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE account_id = $1 ORDER BY id`, [accountId]);
    return rows.map(tokenFromRow);
  }

  async revokeToken(accountId: string, tokenId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query("UPDATE tokens SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND account_id = $2", [
      tokenId,
      accountId,
      now,
    ]);
    return (rowCount ?? 0) > 0;
  }

  createDestination(destination: Destination): Promise<void> {
    return inserting(
      destination.id,
      this.db.query(`INSERT INTO destinations (${DESTINATION_COLUMNS}) VALUES (${DESTINATION_PARAMS})`, destinationValues(destination, asIs)),
    );
  }

  async getDestination(id: string): Promise<Destination | undefined> {
    const { rows } = await this.db.query<DestinationRow>({
      name: "ferry_get_destination",
      text: `SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE id = $1`,
      values: [id],
    });
    return rows[0] && destinationFromRow(rows[0]);
  }

  async listDestinations(accountId: string, page: Page): Promise<Destination[]> {
    const { rows } = await this.db.query<DestinationRow>(
      `SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [accountId, after(page), page.limit],
    );
    return rows.map(destinationFromRow);
  }

  async listAllDestinations(page: Page): Promise<Destination[]> {
    const { rows } = await this.db.query<DestinationRow>(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE id > $1 ORDER BY id LIMIT $2`, [after(page), page.limit]);
    return rows.map(destinationFromRow);
  }

  async accountDestinations(accountId: string): Promise<Destination[]> {
    const { rows } = await this.db.query<DestinationRow>({
      name: "ferry_account_destinations",
      text: `SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = $1 ORDER BY id`,
      values: [accountId],
    });
    return rows.map(destinationFromRow);
  }

  async findDestination(accountId: string, method: string, url: string): Promise<Destination | undefined> {
    const { rows } = await this.db.query<DestinationRow>(
      `SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE account_id = $1 AND method = $2 AND url = $3 ORDER BY id LIMIT 1`,
      [accountId, method, url],
    );
    return rows[0] && destinationFromRow(rows[0]);
  }

  updateDestination(id: string, patch: DestinationPatch, now: number): Promise<Destination | undefined> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<DestinationRow>(`SELECT ${DESTINATION_COLUMNS} FROM destinations WHERE id = $1 FOR UPDATE`, [id]);
      if (!rows[0]) return undefined;
      const { destination: d, clearFailures } = patchDestination(destinationFromRow(rows[0]), patch, now);
      await client.query(UPDATE_DESTINATION_SQL, [...destinationValues(d, asIs), clearFailures]);
      return d;
    });
  }

  async countDisabledDestinations(): Promise<number> {
    // A scan of the destinations table, which holds a few per account: no index is worth it.
    const { rows } = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM destinations WHERE NOT enabled");
    return rows[0]?.n ?? 0;
  }

  async pauseDestination(id: string, until: number, reason: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      "UPDATE destinations SET paused_until = $2, pause_reason = $3 WHERE id = $1 AND (paused_until IS NULL OR paused_until < $2)",
      [id, until, reason],
    );
    return (rowCount ?? 0) > 0;
  }

  async deleteDestination(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query("DELETE FROM destinations WHERE id = $1", [id]);
    return (rowCount ?? 0) > 0;
  }

  async recordFailures(failures: DestinationFailure[]): Promise<string[]> {
    if (failures.length === 0) return [];
    const ids = [...new Set(failures.map((f) => f.destinationId))];
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ id: string; enabled: boolean; failures: number[] }>(LOCK_HEALTH_SQL, [ids]);
      const states = new Map<string, HealthState>(rows.map((r) => [r.id, { enabled: r.enabled, failures: r.failures }]));
      const changed = new Map<string, { id: string; failures: number[]; enabled: boolean; disabled_at: number | null; disabled_reason: string | null }>();
      const disabled: string[] = [];
      for (const f of failures) {
        const state = states.get(f.destinationId);
        if (!state?.enabled) continue; // deleted, or disabled already
        const counted = countFailure(state, f);
        if (counted.state === state) continue; // not counted (threshold 0)
        states.set(f.destinationId, counted.state);
        const reason = counted.disabledReason ?? null;
        changed.set(f.destinationId, { id: f.destinationId, ...counted.state, disabled_at: reason === null ? null : f.at, disabled_reason: reason });
        if (reason !== null) disabled.push(f.destinationId);
      }
      if (changed.size > 0) await client.query(SET_HEALTH_SQL, [JSON.stringify([...changed.values()])]);
      return disabled;
    });
  }
}
