/**
 * The Postgres EventStore: events, their sessions' summaries, the fan-out outbox and event
 * types. Schema: migration 3 in ./postgres-migrations.ts. bigint columns read back as numbers
 * (the pool's type parser, ./postgres.ts): microseconds since the epoch stay below 2^53 until
 * the year 2255.
 *
 * Concurrency: an insert is one statement (events, outbox entries and session summaries), its
 * rows in client-id order and its sessions in session order, so concurrent batches wait for
 * each other instead of deadlocking; a repeated client id committed meanwhile is found by the
 * next statement of the same transaction. Retention locks the summaries it recounts, so an
 * insert's count is never overwritten with a stale one.
 */
import type pg from "pg";
import type { EventType, StoredEvent } from "../core/events.js";
import { DuplicateIdError } from "../core/port-errors.js";
import type { EventFilter, EventStore, InsertEventsResult, Page, SessionFilter, SessionListing, SessionSummary } from "./port.js";
import type { PostgresDb } from "./postgres-db.js";
import { isDuplicateKey } from "./postgres-errors.js";
import {
  EVENT_COLUMNS,
  E_COLUMNS,
  EVENT_TYPE_COLUMNS,
  eventFromRow,
  eventTypeFromRow,
  firstOfEachClientId,
  sessionFromRow,
  type EventRow,
  type EventTypeRow,
  type SessionRow,
} from "./event-rows.js";


// One statement: the batch's new events, their outbox entries and their sessions' summaries.
// A client id the account already has (committed, or committed meanwhile by a concurrent
// batch, which this one waits for) is skipped: its event is not returned.
const INSERT_SQL = `
WITH batch AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
    WITH ORDINALITY AS b(${EVENT_COLUMNS}, n)
), ins AS (
  INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM batch ORDER BY n
  ON CONFLICT (account_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
  RETURNING id, account_id, session_id, timestamp_us
), outbox AS (
  INSERT INTO event_outbox (event_id) SELECT id FROM ins
), sessions AS (
  INSERT INTO event_sessions AS s (account_id, session_id, count, first_us, last_us)
  SELECT account_id, session_id, count(*), min(timestamp_us), max(timestamp_us) FROM ins
  GROUP BY account_id, session_id ORDER BY account_id, session_id
  ON CONFLICT (account_id, session_id) DO UPDATE SET count = s.count + excluded.count,
    first_us = least(s.first_us, excluded.first_us), last_us = greatest(s.last_us, excluded.last_us)
)
SELECT id FROM ins`;

const BY_CLIENT_ID_SQL = `
SELECT e.account_id, e.client_id, e.id FROM unnest($1::text[], $2::text[]) AS k(account_id, client_id)
JOIN events e ON e.account_id = k.account_id AND e.client_id = k.client_id`;

// Oldest first, skipping rows another retention run holds; each event's outbox entry is one
// primary-key lookup.
const EXPIRE_SQL = `
DELETE FROM events WHERE id IN (
  SELECT id FROM events e WHERE account_id = $1 AND received_at < $2
    AND NOT EXISTS (SELECT 1 FROM event_outbox o WHERE o.event_id = e.id)
  ORDER BY received_at LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING session_id`;

// Run after the summaries are locked, so its snapshot sees every insert that counted into them.
const RECOUNT_SQL = `
WITH counted AS (
  SELECT t.session_id, c.count, c.first_us, c.last_us FROM unnest($2::text[]) AS t(session_id)
  CROSS JOIN LATERAL (
    SELECT count(*) AS count, min(timestamp_us) AS first_us, max(timestamp_us) AS last_us
    FROM events WHERE account_id = $1 AND session_id = t.session_id
  ) c
), updated AS (
  UPDATE event_sessions s SET count = c.count, first_us = c.first_us, last_us = c.last_us
  FROM counted c WHERE s.account_id = $1 AND s.session_id = c.session_id AND c.count > 0
)
DELETE FROM event_sessions s USING counted c WHERE s.account_id = $1 AND s.session_id = c.session_id AND c.count = 0`;

/** Bytewise, as COLLATE "C" orders them. */
const byBytes = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The id a primary-key violation names ("Key (id)=(evt_…) already exists."), or undefined. */
function duplicateId(err: unknown): string | undefined {
  const detail = (err as { detail?: unknown } | null)?.detail;
  return typeof detail === "string" ? /^Key \(id\)=\((.*)\) already exists/.exec(detail)?.[1] : undefined;
}

/** Builds `$n` placeholders in the order values are pushed. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

export class PostgresEventStore implements EventStore {
  constructor(private readonly db: PostgresDb) {}

  async insertEvents(events: StoredEvent[]): Promise<InsertEventsResult> {
    if (events.length === 0) return [];
    const firstOf = firstOfEachClientId(events);
    // Client ids in one order across batches: two batches sharing some wait, never deadlock.
    const stored = events
      .filter((_, i) => firstOf[i] === i)
      .sort((a, b) => byBytes(a.accountId, b.accountId) || byBytes(a.clientId ?? "", b.clientId ?? "") || byBytes(a.id, b.id));
    const column = <T>(f: (e: StoredEvent) => T): T[] => stored.map(f);
    let created: Set<string>;
    let existing: Map<string, string>;
    try {
      [created, existing] = await this.db.transaction(async (client) => {
        const { rows } = await client.query<{ id: string }>({
          name: "ferry_insert_events",
          text: INSERT_SQL,
          values: [
            column((e) => e.id),
            column((e) => e.accountId),
            column((e) => e.clientId),
            column((e) => e.sessionId),
            column((e) => e.category),
            column((e) => e.name),
            column((e) => e.data),
            column((e) => e.timestampUs),
            column((e) => e.receivedAt),
          ],
        });
        const created = new Set(rows.map((r) => r.id));
        const repeats = stored.filter((e) => !created.has(e.id));
        const existing = new Map<string, string>();
        if (repeats.length > 0) {
          const found = await client.query<{ account_id: string; client_id: string; id: string }>(BY_CLIENT_ID_SQL, [
            repeats.map((e) => e.accountId),
            repeats.map((e) => e.clientId),
          ]);
          for (const r of found.rows) existing.set(JSON.stringify([r.account_id, r.client_id]), r.id);
        }
        return [created, existing] as const;
      });
    } catch (err) {
      if (isDuplicateKey(err) && (err as { constraint?: string }).constraint === "events_pkey") {
        throw new DuplicateIdError("store", duplicateId(err) ?? events[0]!.id);
      }
      throw err;
    }
    return events.map((e, i) => {
      const first = events[firstOf[i]!]!;
      if (created.has(first.id)) return { id: first.id, created: firstOf[i] === i };
      const id = existing.get(JSON.stringify([first.accountId, first.clientId]));
      // Not inserted, so its client id conflicted with a committed event, which the next
      // statement must see; only a retention run deleting it in between could hide it.
      if (id === undefined) throw new Error(`event ${first.id}: its client id is taken, but the event holding it was not found`);
      return { id, created: false };
    });
  }

  async queryEvents(filter: EventFilter): Promise<StoredEvent[]> {
    const p = new Params();
    const where = [`account_id = ${p.add(filter.accountId)}`];
    if (filter.sessionId !== undefined) where.push(`session_id = ${p.add(filter.sessionId)}`);
    if (filter.category !== undefined) where.push(`category = ${p.add(filter.category)}`);
    if (filter.name !== undefined) where.push(`name = ${p.add(filter.name)}`);
    if (filter.fromUs !== undefined) where.push(`timestamp_us >= ${p.add(filter.fromUs)}`);
    if (filter.toUs !== undefined) where.push(`timestamp_us < ${p.add(filter.toUs)}`);
    if (filter.after !== undefined) where.push(`(timestamp_us, id) > (${p.add(filter.after.timestampUs)}, ${p.add(filter.after.id)})`);
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(" AND ")} ORDER BY timestamp_us, id LIMIT ${p.add(filter.limit)}`;
    const { rows } = await this.db.query<EventRow>(sql, p.values);
    return rows.map(eventFromRow);
  }

  async getEvent(accountId: string, id: string): Promise<StoredEvent | undefined> {
    const { rows } = await this.db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1 AND account_id = $2`, [id, accountId]);
    return rows[0] && eventFromRow(rows[0]);
  }

  async sessionSummary(accountId: string, sessionId: string): Promise<SessionSummary | undefined> {
    const { rows } = await this.db.query<SessionRow>(
      "SELECT session_id, count, first_us, last_us FROM event_sessions WHERE account_id = $1 AND session_id = $2",
      [accountId, sessionId],
    );
    if (!rows[0]) return undefined;
    const { count, firstUs, lastUs } = sessionFromRow(rows[0]);
    return { count, firstUs, lastUs };
  }

  async listSessions(filter: SessionFilter): Promise<SessionListing[]> {
    const p = new Params();
    const where = [`s.account_id = ${p.add(filter.accountId)}`];
    if (filter.fromUs !== undefined) where.push(`s.last_us >= ${p.add(filter.fromUs)}`);
    if (filter.toUs !== undefined) where.push(`s.first_us < ${p.add(filter.toUs)}`);
    if (filter.after !== undefined) where.push(`(s.last_us, s.session_id) > (${p.add(filter.after.lastUs)}, ${p.add(filter.after.sessionId)})`);
    if (filter.name !== undefined) {
      where.push(`EXISTS (SELECT 1 FROM events e WHERE e.account_id = s.account_id AND e.session_id = s.session_id AND e.name = ${p.add(filter.name)})`);
    }
    const sql = `SELECT s.session_id, s.count, s.first_us, s.last_us FROM event_sessions s
                 WHERE ${where.join(" AND ")} ORDER BY s.last_us, s.session_id LIMIT ${p.add(filter.limit)}`;
    const { rows } = await this.db.query<SessionRow>(sql, p.values);
    return rows.map(sessionFromRow);
  }

  async putEventType(accountId: string, category: string, schema: string, description: string | null, now: number): Promise<EventType> {
    const { rows } = await this.db.query<EventTypeRow>(
      `INSERT INTO event_types AS t (${EVENT_TYPE_COLUMNS}) VALUES ($1, $2, $3, $4, 1, $5, $5)
       ON CONFLICT (account_id, category) DO UPDATE SET schema = excluded.schema, description = excluded.description,
         version = t.version + 1, updated_at = excluded.updated_at
       RETURNING ${EVENT_TYPE_COLUMNS}`,
      [accountId, category, schema, description, now],
    );
    return eventTypeFromRow(rows[0]!);
  }

  async getEventType(accountId: string, category: string): Promise<EventType | undefined> {
    const { rows } = await this.db.query<EventTypeRow>(`SELECT ${EVENT_TYPE_COLUMNS} FROM event_types WHERE account_id = $1 AND category = $2`, [
      accountId,
      category,
    ]);
    return rows[0] && eventTypeFromRow(rows[0]);
  }

  async listEventTypes(accountId: string, page: Page): Promise<EventType[]> {
    const { rows } = await this.db.query<EventTypeRow>(
      `SELECT ${EVENT_TYPE_COLUMNS} FROM event_types WHERE account_id = $1 AND category > $2 ORDER BY category LIMIT $3`,
      [accountId, page.after ?? "", page.limit],
    );
    return rows.map(eventTypeFromRow);
  }

  async deleteEventType(accountId: string, category: string): Promise<boolean> {
    const { rowCount } = await this.db.query("DELETE FROM event_types WHERE account_id = $1 AND category = $2", [accountId, category]);
    return (rowCount ?? 0) > 0;
  }

  async pendingFanout(limit: number): Promise<StoredEvent[]> {
    const { rows } = await this.db.query<EventRow>({
      name: "ferry_pending_fanout",
      // The outbox's first ids, then each one's event by its primary key (LATERAL: always a
      // nested loop of index lookups). A plain join had no plan it kept to: without table
      // statistics (a new database, autovacuum off) it walked every event already fanned out,
      // and a prepared statement first planned while the tables were small kept a hash join
      // over all events as they grew: 100 ms and more per call at a few hundred thousand.
      text: `SELECT ${E_COLUMNS} FROM (SELECT event_id FROM event_outbox ORDER BY event_id LIMIT $1) o
             CROSS JOIN LATERAL (SELECT * FROM events WHERE id = o.event_id) e ORDER BY o.event_id`,
      values: [limit],
    });
    return rows.map(eventFromRow);
  }

  async markFannedOut(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query("DELETE FROM event_outbox WHERE event_id = ANY($1::text[])", [ids]);
  }

  async deleteEventsReceivedBefore(accountId: string, before: number, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    return this.db.transaction(async (client: pg.PoolClient) => {
      const { rows } = await client.query<{ session_id: string }>(EXPIRE_SQL, [accountId, before, limit]);
      const sessions = [...new Set(rows.map((r) => r.session_id))].sort(byBytes);
      if (sessions.length > 0) {
        // In session order, as inserts take them: waits for inserts counting into these
        // summaries to commit, so the recount below sees their events.
        await client.query("SELECT 1 FROM event_sessions WHERE account_id = $1 AND session_id = ANY($2::text[]) ORDER BY session_id FOR UPDATE", [
          accountId,
          sessions,
        ]);
        await client.query(RECOUNT_SQL, [accountId, sessions]);
      }
      return rows.length;
    });
  }
}
