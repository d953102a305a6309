/**
 * The SQLite EventStore: events, their sessions' summaries, the fan-out outbox and event types.
 * Tables and indexes: migration 3 in ./sqlite.ts. Every write is one IMMEDIATE transaction, so
 * writers in several processes take turns and an insert's events, outbox entries and session
 * summaries commit together. better-sqlite3 is synchronous: each method does its work before it
 * returns its promise.
 */
import type { SqliteDatabase } from "../sqlite.js";
import type { EventType, StoredEvent } from "../core/events.js";
import { DuplicateIdError } from "../core/port-errors.js";
import type { EventFilter, EventStore, InsertEventsResult, Page, SessionFilter, SessionListing, SessionSummary } from "./port.js";
import {
  EVENT_COLUMNS,
  E_COLUMNS,
  EVENT_TYPE_COLUMNS,
  eventFromRow,
  eventTypeFromRow,
  eventValues,
  sessionFromRow,
  type EventRow,
  type EventTypeRow,
  type SessionRow,
} from "./event-rows.js";
import { isDuplicateKey, onSqlite } from "./sqlite-errors.js";


export class SqliteEventStore implements EventStore {
  private readonly stmt;
  /** Listing statements, built per combination of filters and prepared once each. */
  private readonly listings = new Map<string, ReturnType<SqliteDatabase["prepare"]>>();

  /** `db` must be migrated (openSqliteStores does it). */
  constructor(private readonly db: SqliteDatabase) {
    this.stmt = {
      byClientId: db.prepare("SELECT id FROM events WHERE account_id = ? AND client_id = ?").pluck(),
      insert: db.prepare(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      enqueue: db.prepare("INSERT INTO event_outbox (event_id) VALUES (?)"),
      countIn: db.prepare(
        `INSERT INTO event_sessions (account_id, session_id, count, first_us, last_us) VALUES (?, ?, 1, ?, ?)
         ON CONFLICT (account_id, session_id) DO UPDATE SET count = count + 1,
           first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)`,
      ),
      getEvent: db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ? AND account_id = ?`),
      summary: db.prepare("SELECT session_id, count, first_us, last_us FROM event_sessions WHERE account_id = ? AND session_id = ?"),
      putType: db.prepare(
        `INSERT INTO event_types (${EVENT_TYPE_COLUMNS}) VALUES (?, ?, ?, ?, 1, ?, ?)
         ON CONFLICT (account_id, category) DO UPDATE SET schema = excluded.schema, description = excluded.description,
           version = version + 1, updated_at = excluded.updated_at
         RETURNING ${EVENT_TYPE_COLUMNS}`,
      ),
      getType: db.prepare(`SELECT ${EVENT_TYPE_COLUMNS} FROM event_types WHERE account_id = ? AND category = ?`),
      listTypes: db.prepare(`SELECT ${EVENT_TYPE_COLUMNS} FROM event_types WHERE account_id = ? AND category > ? ORDER BY category LIMIT ?`),
      deleteType: db.prepare("DELETE FROM event_types WHERE account_id = ? AND category = ?"),
      // CROSS JOIN makes the outbox the outer loop: its primary key gives the order, and each
      // event is one lookup by id, however many events are stored.
      pending: db.prepare(`SELECT ${E_COLUMNS} FROM event_outbox o CROSS JOIN events e ON e.id = o.event_id ORDER BY o.event_id LIMIT ?`),
      dequeue: db.prepare("DELETE FROM event_outbox WHERE event_id = ?"),
      expire: db.prepare(
        `DELETE FROM events WHERE rowid IN (
           SELECT rowid FROM events INDEXED BY events_received
           WHERE account_id = ? AND received_at < ? AND NOT EXISTS (SELECT 1 FROM event_outbox o WHERE o.event_id = events.id)
           ORDER BY received_at LIMIT ?)
         RETURNING session_id`,
      ).pluck(),
      recount: db.prepare(
        "SELECT count(*) AS count, min(timestamp_us) AS first_us, max(timestamp_us) AS last_us FROM events WHERE account_id = ? AND session_id = ?",
      ),
      setSummary: db.prepare("UPDATE event_sessions SET count = ?, first_us = ?, last_us = ? WHERE account_id = ? AND session_id = ?"),
      dropSummary: db.prepare("DELETE FROM event_sessions WHERE account_id = ? AND session_id = ?"),
    };
  }

  /** Runs one call on the database, its errors translated (an outage is StoreUnavailableError). */
  private run<T>(fn: () => T): T {
    return onSqlite(this.db, fn);
  }

  /** One IMMEDIATE transaction: the write lock first, so reads within it stay true until commit. */
  private write<T>(fn: () => T): T {
    return this.run(() => this.db.transaction(fn).immediate());
  }

  private listing(sql: string): ReturnType<SqliteDatabase["prepare"]> {
    let stmt = this.listings.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.listings.set(sql, stmt);
    }
    return stmt;
  }

  async insertEvents(events: StoredEvent[]): Promise<InsertEventsResult> {
    if (events.length === 0) return [];
    return this.write(() =>
      events.map((e) => {
        // Within the transaction, an earlier event of this batch with the same client id is
        // found here too: a repeat within one call is stored once, like a repeat across calls.
        if (e.clientId !== null) {
          const existing = this.stmt.byClientId.get(e.accountId, e.clientId) as string | undefined;
          if (existing !== undefined) return { id: existing, created: false };
        }
        try {
          this.stmt.insert.run(eventValues(e));
        } catch (err) {
          throw isDuplicateKey(err) ? new DuplicateIdError("store", e.id) : err;
        }
        this.stmt.enqueue.run(e.id);
        this.stmt.countIn.run(e.accountId, e.sessionId, e.timestampUs, e.timestampUs);
        return { id: e.id, created: true };
      }),
    );
  }

  /**
   * Each query names the index that serves it (INDEXED BY), so the plan does not depend on
   * statistics SQLite may not have: a session's events, a category over time, or the account
   * over time; other filters are checked on the rows that index yields, in order.
   */
  async queryEvents(filter: EventFilter): Promise<StoredEvent[]> {
    const where = ["account_id = ?"];
    const values: unknown[] = [filter.accountId];
    const index = filter.sessionId !== undefined ? "events_session" : filter.category !== undefined ? "events_category" : "events_time";
    if (filter.sessionId !== undefined) (where.push("session_id = ?"), values.push(filter.sessionId));
    if (filter.category !== undefined) (where.push("category = ?"), values.push(filter.category));
    if (filter.name !== undefined) (where.push("name = ?"), values.push(filter.name));
    if (filter.fromUs !== undefined) (where.push("timestamp_us >= ?"), values.push(filter.fromUs));
    if (filter.toUs !== undefined) (where.push("timestamp_us < ?"), values.push(filter.toUs));
    if (filter.after !== undefined) (where.push("(timestamp_us, id) > (?, ?)"), values.push(filter.after.timestampUs, filter.after.id));
    const sql = `SELECT ${EVENT_COLUMNS} FROM events INDEXED BY ${index} WHERE ${where.join(" AND ")} ORDER BY timestamp_us, id LIMIT ?`;
    const rows = this.run(() => this.listing(sql).all([...values, filter.limit])) as EventRow[];
    return rows.map(eventFromRow);
  }

  async getEvent(accountId: string, id: string): Promise<StoredEvent | undefined> {
    const row = this.run(() => this.stmt.getEvent.get(id, accountId)) as EventRow | undefined;
    return row && eventFromRow(row);
  }

  async sessionSummary(accountId: string, sessionId: string): Promise<SessionSummary | undefined> {
    const row = this.run(() => this.stmt.summary.get(accountId, sessionId)) as SessionRow | undefined;
    if (!row) return undefined;
    const { count, firstUs, lastUs } = sessionFromRow(row);
    return { count, firstUs, lastUs };
  }

  async listSessions(filter: SessionFilter): Promise<SessionListing[]> {
    const where = ["s.account_id = ?"];
    const values: unknown[] = [filter.accountId];
    if (filter.fromUs !== undefined) (where.push("s.last_us >= ?"), values.push(filter.fromUs));
    if (filter.toUs !== undefined) (where.push("s.first_us < ?"), values.push(filter.toUs));
    if (filter.after !== undefined) (where.push("(s.last_us, s.session_id) > (?, ?)"), values.push(filter.after.lastUs, filter.after.sessionId));
    if (filter.name !== undefined) {
      // Through the session's index: only the events of each candidate session are read.
      where.push("EXISTS (SELECT 1 FROM events e INDEXED BY events_session WHERE e.account_id = s.account_id AND e.session_id = s.session_id AND e.name = ?)");
      values.push(filter.name);
    }
    const sql = `SELECT s.session_id, s.count, s.first_us, s.last_us FROM event_sessions s INDEXED BY event_sessions_last
                 WHERE ${where.join(" AND ")} ORDER BY s.last_us, s.session_id LIMIT ?`;
    const rows = this.run(() => this.listing(sql).all([...values, filter.limit])) as SessionRow[];
    return rows.map(sessionFromRow);
  }

  async putEventType(accountId: string, category: string, schema: string, description: string | null, now: number): Promise<EventType> {
    const row = this.run(() => this.stmt.putType.get(accountId, category, schema, description, now, now)) as EventTypeRow;
    return eventTypeFromRow(row);
  }

  async getEventType(accountId: string, category: string): Promise<EventType | undefined> {
    const row = this.run(() => this.stmt.getType.get(accountId, category)) as EventTypeRow | undefined;
    return row && eventTypeFromRow(row);
  }

  async listEventTypes(accountId: string, page: Page): Promise<EventType[]> {
    const rows = this.run(() => this.stmt.listTypes.all(accountId, page.after ?? "", page.limit)) as EventTypeRow[];
    return rows.map(eventTypeFromRow);
  }

  async deleteEventType(accountId: string, category: string): Promise<boolean> {
    return this.run(() => this.stmt.deleteType.run(accountId, category)).changes > 0;
  }

  async pendingFanout(limit: number): Promise<StoredEvent[]> {
    return (this.run(() => this.stmt.pending.all(limit)) as EventRow[]).map(eventFromRow);
  }

  async markFannedOut(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    this.write(() => {
      for (const id of ids) this.stmt.dequeue.run(id);
    });
  }

  async deleteEventsReceivedBefore(accountId: string, before: number, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    return this.write(() => {
      const sessions = this.stmt.expire.all(accountId, before, limit) as string[];
      // Each session that lost events is counted again from what is left of it (through its
      // index), in the same transaction: its summary never disagrees with its events.
      for (const sessionId of new Set(sessions)) {
        const left = this.stmt.recount.get(accountId, sessionId) as { count: number; first_us: number | null; last_us: number | null };
        if (left.count === 0) this.stmt.dropSummary.run(accountId, sessionId);
        else this.stmt.setSummary.run(left.count, left.first_us, left.last_us, accountId, sessionId);
      }
      return sessions.length;
    });
  }
}
