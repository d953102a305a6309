/**
 * The SQLite queue: entries in one table ordered by due time. A reserved entry's due time is
 * its lease end, so an entry whose holder died becomes due again by itself.
 * A held entry (its destination is disabled) names the destination in `held_for` and is due
 * at HELD_DUE, after any real time: reserve, waitForWork and stats pass it by with the same
 * index range they always used. The lease number is odd while reserved, even otherwise, which
 * tells a running lease from a scheduled retry (both are due later).
 * Limits: one writer at a time; a worker in another process than the API learns of new work
 * by polling (`poll_interval_ms`), one in the same process at once.
 */
import Database from "better-sqlite3";
import type { SqliteDatabase } from "../sqlite.js";
import { migrate } from "../sqlite.js";
import type { Endpoint, HttpMethod } from "../core/types.js";
import { DuplicateIdError, asUnavailable } from "../core/port-errors.js";
import { BoundedMap } from "../core/bounded-map.js";
import { batchList, QUEUE_SCAN_LIMIT, type QueuedFilter, type EnqueueBatch, type Queue, type QueuedPostback, type QueueStats, type Reservation, type Settlement } from "./port.js";

const MIGRATIONS = [
  `CREATE TABLE queue_endpoints (
     id TEXT PRIMARY KEY,
     method TEXT NOT NULL,
     url TEXT NOT NULL,
     default_value TEXT NOT NULL,
     max_attempts INTEGER NOT NULL,
     remaining INTEGER NOT NULL -- entries not yet done; the row goes when it reaches 0
   ) WITHOUT ROWID;
   CREATE TABLE queue_entries (
     seq INTEGER PRIMARY KEY,
     postback_id TEXT NOT NULL UNIQUE,
     endpoint_id TEXT NOT NULL,
     data TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER NOT NULL, -- when it may be reserved; while reserved, when the lease ends
     lease INTEGER NOT NULL DEFAULT 0, -- bumped by each reservation; a settle must name it
     created_at INTEGER NOT NULL
   );
   CREATE INDEX queue_entries_due ON queue_entries (due_at, seq);`,
  // Owners and destinations (accounts pushing to their registered destinations): the endpoint keeps them, so a reservation names them;
  // an entry held for a disabled destination names it in held_for (due_at is HELD_DUE then).
  `ALTER TABLE queue_endpoints ADD COLUMN account_id TEXT;
   ALTER TABLE queue_endpoints ADD COLUMN destination_id TEXT;
   ALTER TABLE queue_entries ADD COLUMN held_for TEXT;
   CREATE INDEX queue_entries_held ON queue_entries (held_for) WHERE held_for IS NOT NULL;`,
];

/** The due time of a held entry: later than any real time, so nothing finds it due. */
const HELD_DUE = Number.MAX_SAFE_INTEGER;

interface EntryRow {
  seq: number;
  postback_id: string;
  endpoint_id: string;
  data: string;
  attempts: number;
  lease: number;
  due_at: number;
  created_at: number;
  held_for?: string | null;
}

/** Added to a wait for a due time, so that it is due when the wait ends. */
const TIMER_SLACK_MS = 2;

/** One enqueue call waiting for the next group commit: its batches go in together or not at all. */
interface PendingEnqueue {
  batches: readonly EnqueueBatch[];
  resolve(): void;
  reject(err: unknown): void;
}

interface EndpointRow {
  id: string;
  method: string;
  url: string;
  default_value: string;
  max_attempts: number;
  account_id: string | null;
  destination_id: string | null;
}

export class SqliteQueue implements Queue {
  private readonly db: SqliteDatabase;
  // Endpoints leave when their last entry settles here; entries settled by another process
  // leave theirs behind, hence the bound.
  private readonly endpoints = new BoundedMap<string, Endpoint>(10_000);
  private readonly waiters = new Set<() => void>();
  private readonly stmt;
  private closed = false;
  private pending: PendingEnqueue[] = [];

  constructor(db: SqliteDatabase) {
    this.db = db;
    migrate(db, "queue", MIGRATIONS);
    this.stmt = {
      insertEndpoint: db.prepare(
        `INSERT INTO queue_endpoints (id, method, url, default_value, max_attempts, account_id, destination_id, remaining)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET remaining = remaining + excluded.remaining`,
      ),
      insertEntry: db.prepare(
        "INSERT INTO queue_entries (postback_id, endpoint_id, data, attempts, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      pick: db.prepare("SELECT seq FROM queue_entries WHERE due_at <= ? ORDER BY due_at, seq LIMIT ?").pluck(),
      // A reservation makes the lease odd (the next odd number); a settle makes it even.
      take: db.prepare(
        `UPDATE queue_entries SET due_at = ?, attempts = attempts + 1, lease = lease + 1 + lease % 2
         WHERE seq IN (SELECT value FROM json_each(?))
         RETURNING seq, postback_id, endpoint_id, data, attempts, lease, due_at, created_at`,
      ),
      endpoint: db.prepare(
        "SELECT id, method, url, default_value, max_attempts, account_id, destination_id FROM queue_endpoints WHERE id = ?",
      ),
      remove: db.prepare("DELETE FROM queue_entries WHERE postback_id = ? AND lease = ? RETURNING endpoint_id"),
      // These end the lease (bump it to even): settling the same reservation again changes nothing.
      retry: db.prepare("UPDATE queue_entries SET due_at = ?, lease = lease + 2 - lease % 2 WHERE postback_id = ? AND lease = ?"),
      release: db.prepare(
        "UPDATE queue_entries SET due_at = ?, attempts = attempts - 1, lease = lease + 2 - lease % 2 WHERE postback_id = ? AND lease = ?",
      ),
      hold: db.prepare(
        `UPDATE queue_entries SET due_at = ${HELD_DUE}, held_for = ?, attempts = attempts - 1, lease = lease + 2 - lease % 2
         WHERE postback_id = ? AND lease = ?`,
      ),
      unhold: db.prepare("UPDATE queue_entries SET due_at = ?, held_for = NULL WHERE held_for = ?"),
      heldDestinations: db.prepare("SELECT DISTINCT held_for FROM queue_entries WHERE held_for IS NOT NULL").pluck(),
      // Not held, and not under a lease that still runs (odd lease, due later). A lease that ran
      // out is ended (made even), as a new reservation would: its holder's settle is stale.
      reschedule: db.prepare(
        `UPDATE queue_entries SET due_at = ?, lease = lease + lease % 2
         WHERE postback_id = ? AND held_for IS NULL AND NOT (lease % 2 = 1 AND due_at > ?)`,
      ),
      decrement: db.prepare("UPDATE queue_endpoints SET remaining = remaining - ? WHERE id = ? RETURNING remaining").pluck(),
      dropEndpoint: db.prepare("DELETE FROM queue_endpoints WHERE id = ?"),
      nextDue: db.prepare("SELECT min(due_at) FROM queue_entries").pluck(),
      find: db.prepare(
        "SELECT seq, postback_id, endpoint_id, data, attempts, lease, due_at, created_at, held_for FROM queue_entries WHERE postback_id = ?",
      ),
      // Newest first through the unique postback_id index; a destination filter is checked on
      // the walk (no index by endpoint on the hot table), at most QUEUE_SCAN_LIMIT rows of it.
      listDue: db.prepare(
        `SELECT * FROM (SELECT q.seq, q.postback_id, q.endpoint_id, q.data, q.attempts, q.lease, q.due_at, q.created_at, q.held_for,
                  e.destination_id
                FROM queue_entries q JOIN queue_endpoints e ON e.id = q.endpoint_id
                WHERE q.postback_id < ? AND q.held_for IS NULL ORDER BY q.postback_id DESC LIMIT ${QUEUE_SCAN_LIMIT})
         WHERE ? IS NULL OR destination_id IN (SELECT value FROM json_each(?)) LIMIT ?`,
      ),
      // Held entries through queue_entries_held.
      listHeld: db.prepare(
        `SELECT seq, postback_id, endpoint_id, data, attempts, lease, due_at, created_at, held_for FROM queue_entries
         WHERE held_for IN (SELECT value FROM json_each(?)) AND postback_id < ? ORDER BY postback_id DESC LIMIT ?`,
      ),
      countFor: db.prepare(
        `SELECT count(*) FROM queue_entries WHERE endpoint_id IN (SELECT id FROM queue_endpoints WHERE destination_id IN (SELECT value FROM json_each(?)))`,
      ).pluck(),
      ready: db.prepare("SELECT count(*) FROM queue_entries WHERE due_at <= ?").pluck(),
      // Held entries are neither ready nor waiting for a time.
      waiting: db.prepare(`SELECT count(*) FROM queue_entries WHERE due_at > ? AND due_at < ${HELD_DUE}`).pluck(),
    };
  }

  private readonly enqueueTx = (batches: readonly EnqueueBatch[]): void => {
    for (const batch of batches) this.insertBatch(batch);
  };

  private insertBatch(batch: EnqueueBatch): void {
    const { endpoint, postbacks, createdAt } = batch;
    this.stmt.insertEndpoint.run(
      endpoint.id,
      endpoint.method,
      endpoint.url,
      endpoint.defaultValue,
      endpoint.maxAttempts,
      endpoint.accountId ?? null,
      endpoint.destinationId ?? null,
      postbacks.length,
    );
    for (const p of postbacks) {
      try {
        this.stmt.insertEntry.run(p.id, endpoint.id, p.data, p.attempts ?? 0, createdAt, createdAt);
      } catch (err) {
        // postback_id is UNIQUE: the id is queued already, or repeats in this call.
        if (err instanceof Database.SqliteError && err.code === "SQLITE_CONSTRAINT_UNIQUE") throw duplicate(p.id);
        throw err;
      }
    }
  }

  /**
   * Group commit: ingest requests that arrive in the same turn of the event loop share one
   * transaction, so a busy API pays one commit (and its WAL page writes) for many requests.
   * Each is still answered only after the commit that holds it. Several batches in one call
   * are in one transaction: all or none.
   */
  enqueue(input: EnqueueBatch | readonly EnqueueBatch[]): Promise<void> {
    const batches = batchList(input);
    return new Promise((resolve, reject) => {
      this.pending.push({ batches, resolve, reject });
      if (this.pending.length === 1) setImmediate(this.commitPending);
    });
  }

  private readonly enqueueGroupTx = (group: PendingEnqueue[]): void => {
    for (const p of group) this.enqueueTx(p.batches);
  };

  private readonly commitPending = (): void => {
    const group = this.pending;
    this.pending = [];
    try {
      this.db.transaction(this.enqueueGroupTx).immediate(group);
      for (const p of group) this.enqueued(p);
    } catch {
      // One bad call (a repeated id) must not fail the others: commit each on its own.
      for (const p of group) {
        try {
          this.db.transaction(this.enqueueTx).immediate(p.batches);
          this.enqueued(p);
        } catch (err) {
          p.reject(this.failure(err, "enqueue"));
        }
      }
    }
    this.wake();
  };

  private enqueued(p: PendingEnqueue): void {
    for (const b of p.batches) this.endpoints.set(b.endpoint.id, b.endpoint);
    p.resolve();
  }

  // Picked in due order, then taken in one statement; RETURNING gives rows in no set order, so
  // they are put back in the order picked (a reservation lists them oldest due first).
  private readonly reserveTx = (max: number, leaseEnd: number, now: number): EntryRow[] => {
    const seqs = this.stmt.pick.all(now, max) as number[];
    if (seqs.length === 0) return [];
    const order = new Map(seqs.map((seq, i) => [seq, i]));
    const rows = this.stmt.take.all(leaseEnd, JSON.stringify(seqs)) as EntryRow[];
    return rows.sort((a, b) => order.get(a.seq)! - order.get(b.seq)!);
  };

  async reserve(max: number, leaseMs: number, now: number = Date.now()): Promise<Reservation[]> {
    const rows = this.guard("reserve", () => this.db.transaction(this.reserveTx).immediate(max, now + leaseMs, now));
    return rows.map((row) => ({
      postbackId: row.postback_id,
      endpoint: this.endpoint(row.endpoint_id),
      data: row.data,
      attempt: row.attempts,
      createdAt: row.created_at,
      lease: String(row.lease),
    }));
  }

  private readonly settleTx = (settlements: Settlement[]): number => {
    let held = 0;
    const done = new Map<string, number>();
    for (const { reservation: r, settle } of settlements) {
      const lease = Number(r.lease);
      if (settle.kind === "done") {
        const gone = this.stmt.remove.get(r.postbackId, lease) as { endpoint_id: string } | undefined;
        if (gone) {
          held++;
          done.set(gone.endpoint_id, (done.get(gone.endpoint_id) ?? 0) + 1);
        }
      } else if (settle.kind === "hold") {
        held += this.stmt.hold.run(holdFor(r), r.postbackId, lease).changes;
      } else {
        const stmt = settle.kind === "retry" ? this.stmt.retry : this.stmt.release;
        held += stmt.run(settle.at, r.postbackId, lease).changes;
      }
    }
    for (const [endpointId, count] of done) {
      const left = this.stmt.decrement.get(count, endpointId) as number | undefined;
      if (left !== undefined && left <= 0) {
        this.stmt.dropEndpoint.run(endpointId);
        this.endpoints.delete(endpointId);
      }
    }
    return held;
  };

  async settle(settlements: Settlement[]): Promise<number> {
    if (settlements.length === 0) return 0;
    const held = this.guard("settle", () => this.db.transaction(this.settleTx).immediate(settlements));
    if (settlements.some((s) => s.settle.kind !== "done")) this.wake();
    return held;
  }

  waitForWork(maxWaitMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    const next = this.stmt.nextDue.get() as number | null;
    if (next !== null && next <= Date.now()) return Promise.resolve();
    // A timer may fire a millisecond before Date.now() reaches its mark: wait a little past it.
    const wait = next === null ? maxWaitMs : Math.min(maxWaitMs, next - Date.now() + TIMER_SLACK_MS);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.waiters.add(done);
    });
  }

  notify(): void {
    this.wake();
  }

  async unhold(destinationId: string): Promise<number> {
    const released = this.guard("unhold", () => this.stmt.unhold.run(Date.now(), destinationId).changes);
    if (released > 0) this.wake();
    return released;
  }

  async heldDestinations(): Promise<string[]> {
    return this.guard("list held destinations", () => this.stmt.heldDestinations.all() as string[]);
  }

  async reschedule(postbackId: string, at: number): Promise<boolean> {
    const changed = this.guard("reschedule", () => this.stmt.reschedule.run(at, postbackId, Date.now()).changes > 0);
    if (changed) this.wake();
    return changed;
  }

  async withdraw(firstPostbackId: string): Promise<"queued" | "withdrawn"> {
    // An enqueue here is one transaction in this process: when it fails it has rolled back,
    // and nothing of it can arrive later. So there is nothing to withdraw, only to look up.
    const queued = this.guard("find", () => this.stmt.find.get(firstPostbackId) !== undefined);
    return queued ? "queued" : "withdrawn";
  }

  async listQueued(filter: QueuedFilter): Promise<QueuedPostback[]> {
    const before = filter.beforeId ?? "~"; // "~" sorts after every id
    const rows = this.guard("list entries", () => {
      if (filter.held) {
        const ids = filter.destinationIds ?? (this.stmt.heldDestinations.all() as string[]);
        return this.stmt.listHeld.all(JSON.stringify(ids), before, filter.limit) as EntryRow[];
      }
      const ids = filter.destinationIds === undefined ? null : JSON.stringify(filter.destinationIds);
      return this.stmt.listDue.all(before, ids, ids, filter.limit) as EntryRow[];
    });
    return rows.map((row) => this.queued(row));
  }

  async countQueued(destinationIds: readonly string[]): Promise<number> {
    if (destinationIds.length === 0) return 0;
    return this.guard("count entries", () => this.stmt.countFor.get(JSON.stringify(destinationIds)) as number);
  }

  async find(postbackId: string): Promise<QueuedPostback | undefined> {
    const row = this.guard("find", () => this.stmt.find.get(postbackId) as EntryRow | undefined);
    return row ? this.queued(row) : undefined;
  }

  private queued(row: EntryRow): QueuedPostback {
    return {
      postbackId: row.postback_id,
      endpoint: this.endpoint(row.endpoint_id),
      data: row.data,
      attempts: row.attempts,
      dueAt: row.held_for == null ? row.due_at : null,
      held: row.held_for != null,
      createdAt: row.created_at,
    };
  }

  async stats(now: number = Date.now()): Promise<QueueStats> {
    return this.guard("count entries", () => ({ ready: this.stmt.ready.get(now) as number, waiting: this.stmt.waiting.get(now) as number }));
  }

  async oldestDueAt(now: number = Date.now()): Promise<number | null> {
    // min(due_at) is one step down the due index; a lease or a hold is due later than now.
    const next = this.guard("find the oldest due entry", () => this.stmt.nextDue.get() as number | null);
    return next !== null && next <= now ? next : null;
  }

  async ping(): Promise<void> {
    this.guard("ping", () => this.db.prepare("SELECT 1").get());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
  }

  /** Runs a call on the database, its failures as the port's errors (see `failure`). */
  private guard<T>(what: string, call: () => T): T {
    try {
      return call();
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  /**
   * What the database threw, as the port's error: a closed database, or SQLite failing
   * (busy past the timeout, I/O, a full disk, a file that is not a database) is the queue
   * being unavailable; anything else (a duplicate id, a caller's mistake) stays as it is.
   */
  private failure(err: unknown, what: string): unknown {
    if (err instanceof DuplicateIdError) return err;
    const constraint = err instanceof Database.SqliteError && err.code.startsWith("SQLITE_CONSTRAINT");
    if (!this.db.open || (err instanceof Database.SqliteError && !constraint)) return asUnavailable("queue", err, `the SQLite queue could not ${what}`);
    return err;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private endpoint(id: string): Endpoint {
    let endpoint = this.endpoints.get(id);
    if (!endpoint) {
      const row = this.stmt.endpoint.get(id) as EndpointRow | undefined;
      if (!row) throw new Error(`queue entry refers to missing endpoint ${id}`);
      endpoint = {
        id: row.id,
        method: row.method as HttpMethod,
        url: row.url,
        defaultValue: row.default_value,
        maxAttempts: row.max_attempts,
      };
      if (row.account_id !== null) endpoint.accountId = row.account_id;
      if (row.destination_id !== null) endpoint.destinationId = row.destination_id;
      this.endpoints.set(id, endpoint);
    }
    return endpoint;
  }
}

/** The destination a held entry waits for: the reservation's, which a hold requires. */
function holdFor(r: Reservation): string {
  const id = r.endpoint.destinationId;
  if (!id) throw new Error(`postback ${r.postbackId} cannot be held: its endpoint has no destination`);
  return id;
}

function duplicate(id: string): DuplicateIdError {
  return new DuplicateIdError("queue", id, `postback ${id} is already queued or repeats in the batch; nothing was queued`);
}
