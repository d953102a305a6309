/**
 * The SQLite queue: entries in one table ordered by due time. A reserved entry's due time is
 * its lease end, so an entry whose holder died becomes due again by itself.
 * A held entry (its destination is disabled) names the destination in `held_for` and is due
 * at HELD_DUE, after any real time: reserve, waitForWork and stats pass it by with the same
 * index range they always used. The lease number is odd while reserved, even otherwise, which
 * tells a running lease from a scheduled retry (both are due later).
 * Limits: one writer at a time; a worker in another process than the API learns of new work
 * by polling (`poll_interval_ms`), one in the same process at once.
 *
 * Ordered lines (issue 14): an entry with an order key that finds its line occupied on enqueue
 * is blocked: due at BLOCKED_DUE, just before HELD_DUE, so that, like a held entry, every
 * due-time range passes it by and stats count it as waiting. Only the head of a line (its
 * lowest seq, i.e. enqueued first) ever has a real due time; settling the head done (or dead)
 * gives the next its own due time back (created_at) in the same transaction.
 *
 * Fairness (issue 14): each entry carries its lane, a number standing for the account of its
 * endpoint (queue_lanes numbers accounts 1, 2, …; 0 for none), and the due index is (lane, due_at, seq) instead of
 * (due_at, seq). reserve walks the lanes
 * with a skip-scan over that index (one seek per lane: min(lane) > the previous) and shares
 * `max` among those with entries due, round robin, least recently served first (see
 * pickFairly); a lane's part is its oldest due entries. Why a skip-scan and not a table of lanes:
 * it costs nothing on enqueue and settle (no lane row to keep in step), the one-account case
 * pays two extra seeks per reserve, and the hot table keeps one due index, not two (every
 * reserve and settle rewrites due_at in it). The cost grows with the number of accounts with
 * entries queued (two seeks each per reserve, waitForWork and stats): fine for thousands.
 */
import Database from "better-sqlite3";
import type { SqliteDatabase } from "../sqlite.js";
import { migrate } from "../sqlite.js";
import type { Endpoint, HttpMethod } from "../core/types.js";
import { DuplicateIdError, asUnavailable } from "../core/port-errors.js";
import { BoundedMap } from "../core/bounded-map.js";
import { batchList, QUEUE_SCAN_LIMIT, type QueuedFilter, type EnqueueBatch, type Queue, type QueuedPostback, type QueueStats, type Reservation, type Settlement } from "./port.js";

/** Exported for the upgrade test (test/queue.sqlite.test.ts): a database at an earlier version. */
export const MIGRATIONS = [
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
  // Issue 14: an entry's lane (its endpoint's account as a number, 0 for none) leads the due index, so
  // that reserve can share among accounts; its line (order_key) is found by its own index.
  // An account's lane is a small number from queue_lanes, not its id: the due index's keys stay
  // as short as before lanes (30-character ids in every key cost reserve and settle about a
  // tenth more, in the WAL pages each commit writes).
  `CREATE TABLE queue_lanes (lane INTEGER PRIMARY KEY, account_id TEXT NOT NULL UNIQUE);
   ALTER TABLE queue_entries ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE queue_entries ADD COLUMN order_key TEXT;
   INSERT INTO queue_lanes (account_id) SELECT DISTINCT account_id FROM queue_endpoints WHERE account_id IS NOT NULL;
   UPDATE queue_entries SET lane = coalesce(
     (SELECT l.lane FROM queue_endpoints e JOIN queue_lanes l ON l.account_id = e.account_id WHERE e.id = queue_entries.endpoint_id), 0);
   DROP INDEX queue_entries_due;
   CREATE INDEX queue_entries_lane_due ON queue_entries (lane, due_at, seq);
   CREATE INDEX queue_entries_line ON queue_entries (order_key, seq) WHERE order_key IS NOT NULL;`,
];

/** The due time of a held entry: later than any real time, so nothing finds it due. */
const HELD_DUE = Number.MAX_SAFE_INTEGER;
/** The due time of an entry behind the head of its line: never due, yet not held. */
const BLOCKED_DUE = HELD_DUE - 1;

/**
 * The lanes with entries, as a recursive skip-scan of queue_entries_lane_due: each step is one
 * seek (the least lane after the previous), however many entries a lane has.
 */
const LANES = `WITH RECURSIVE lanes(lane) AS (
  SELECT min(lane) FROM queue_entries
  UNION ALL
  SELECT (SELECT min(lane) FROM queue_entries WHERE lane > lanes.lane) FROM lanes WHERE lanes.lane IS NOT NULL
)`;

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

/** An entry chosen by reserve, before it is taken. */
interface Picked {
  seq: number;
  due_at: number;
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
  /** The reservation (numbered by `turns`) that last served each lane (see pickFairly). */
  private readonly served = new BoundedMap<number, number>(10_000);
  private turns = 0;
  /**
   * Accounts' lanes (queue_lanes) as committed: a lane is never renumbered, so these stay true.
   * `newLanes` holds those the enqueue transaction under way looked up or added; they join
   * `laneIds` only once it commits (a lane added by a transaction that rolled back may be
   * given to another account later).
   */
  private readonly laneIds = new BoundedMap<string, number>(10_000);
  private newLanes = new Map<string, number>();

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
        "INSERT INTO queue_entries (postback_id, endpoint_id, data, attempts, due_at, created_at, lane) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      // An entry joining a line is blocked when the line has an entry already (its head or
      // one behind it); otherwise it is the head, due at its own time.
      insertLined: db.prepare(
        `INSERT INTO queue_entries (postback_id, endpoint_id, data, attempts, due_at, created_at, lane, order_key)
         VALUES (?, ?, ?, ?, CASE WHEN EXISTS (SELECT 1 FROM queue_entries WHERE order_key = @orderKey) THEN ${BLOCKED_DUE} ELSE @createdAt END, @createdAt, ?, @orderKey)`,
      ),
      lane: db.prepare("SELECT lane FROM queue_lanes WHERE account_id = ?").pluck(),
      addLane: db.prepare("INSERT INTO queue_lanes (account_id) VALUES (?)"),
      lanes: db.prepare(`${LANES} SELECT lane FROM lanes WHERE lane IS NOT NULL`).pluck(),
      // One lane's due entries, oldest first: its seqs alone (one lane), or with their due
      // times, to merge several lanes' picks in due order.
      pickSeqs: db.prepare("SELECT seq FROM queue_entries WHERE lane = ? AND due_at <= ? ORDER BY due_at, seq LIMIT ?").pluck(),
      laneHead: db.prepare("SELECT due_at FROM queue_entries WHERE lane = ? AND due_at <= ? ORDER BY due_at LIMIT 1").pluck(),
      pick: db.prepare("SELECT seq, due_at FROM queue_entries WHERE lane = ? AND due_at <= ? ORDER BY due_at, seq LIMIT ? OFFSET ?"),
      // A reservation makes the lease odd (the next odd number); a settle makes it even.
      take: db.prepare(
        `UPDATE queue_entries SET due_at = ?, attempts = attempts + 1, lease = lease + 1 + lease % 2
         WHERE seq IN (SELECT value FROM json_each(?))
         RETURNING seq, postback_id, endpoint_id, data, attempts, lease, due_at, created_at`,
      ),
      endpoint: db.prepare(
        "SELECT id, method, url, default_value, max_attempts, account_id, destination_id FROM queue_endpoints WHERE id = ?",
      ),
      remove: db.prepare("DELETE FROM queue_entries WHERE postback_id = ? AND lease = ? RETURNING endpoint_id, order_key"),
      // The next of a line whose head left: due at its own time from now on.
      advance: db.prepare(
        `UPDATE queue_entries SET due_at = created_at
         WHERE seq = (SELECT min(seq) FROM queue_entries WHERE order_key = ?) AND due_at = ${BLOCKED_DUE}`,
      ),
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
      // Not held, not blocked in its line (it would overtake its head), and not under a lease
      // that still runs (odd lease, due later). A lease that ran out is ended (made even), as a
      // new reservation would: its holder's settle is stale.
      reschedule: db.prepare(
        `UPDATE queue_entries SET due_at = ?, lease = lease + lease % 2
         WHERE postback_id = ? AND held_for IS NULL AND due_at != ${BLOCKED_DUE} AND NOT (lease % 2 = 1 AND due_at > ?)`,
      ),
      decrement: db.prepare("UPDATE queue_endpoints SET remaining = remaining - ? WHERE id = ? RETURNING remaining").pluck(),
      dropEndpoint: db.prepare("DELETE FROM queue_endpoints WHERE id = ?"),
      // The least due time of each lane (one seek each), and the least of those.
      nextDue: db.prepare(
        `${LANES} SELECT min((SELECT min(due_at) FROM queue_entries q WHERE q.lane = lanes.lane)) FROM lanes WHERE lane IS NOT NULL`,
      ).pluck(),
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
      // Counted lane by lane, each a range of the due index. Held entries are neither ready nor
      // waiting for a time; blocked ones wait (for their line).
      ready: db.prepare(
        `${LANES} SELECT coalesce(sum((SELECT count(*) FROM queue_entries q WHERE q.lane = lanes.lane AND q.due_at <= ?)), 0)
         FROM lanes WHERE lane IS NOT NULL`,
      ).pluck(),
      waiting: db.prepare(
        `${LANES} SELECT coalesce(sum((SELECT count(*) FROM queue_entries q WHERE q.lane = lanes.lane AND q.due_at > ? AND q.due_at < ${HELD_DUE})), 0)
         FROM lanes WHERE lane IS NOT NULL`,
      ).pluck(),
    };
  }

  /** The account's lane, numbered on first sight; called within an enqueue transaction. */
  private laneOf(accountId: string): number {
    let lane = this.newLanes.get(accountId) ?? (this.stmt.lane.get(accountId) as number | undefined);
    lane ??= Number(this.stmt.addLane.run(accountId).lastInsertRowid);
    this.newLanes.set(accountId, lane);
    return lane;
  }

  /** Runs an enqueue transaction; the lanes it numbered are remembered only if it commits. */
  private commitEnqueue(run: () => void): void {
    this.newLanes = new Map();
    try {
      run();
      for (const [accountId, lane] of this.newLanes) this.laneIds.set(accountId, lane);
    } finally {
      this.newLanes = new Map();
    }
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
    let lane = 0;
    if (endpoint.accountId !== undefined) {
      lane = this.laneIds.get(endpoint.accountId) ?? this.laneOf(endpoint.accountId);
    }
    for (const p of postbacks) {
      try {
        if (p.orderKey === undefined) this.stmt.insertEntry.run(p.id, endpoint.id, p.data, p.attempts ?? 0, createdAt, createdAt, lane);
        else this.stmt.insertLined.run(p.id, endpoint.id, p.data, p.attempts ?? 0, lane, { createdAt, orderKey: p.orderKey });
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
      this.commitEnqueue(() => this.db.transaction(this.enqueueGroupTx).immediate(group));
      for (const p of group) this.enqueued(p);
    } catch {
      // One bad call (a repeated id) must not fail the others: commit each on its own.
      for (const p of group) {
        try {
          this.commitEnqueue(() => this.db.transaction(this.enqueueTx).immediate(p.batches));
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

  // Picked lane by lane (see pickFairly), then taken in one statement; RETURNING gives rows in
  // no set order, so they are put back in the order picked.
  private readonly reserveTx = (max: number, leaseEnd: number, now: number): EntryRow[] => {
    const seqs = this.pickFairly(max, now);
    if (seqs.length === 0) return [];
    const order = new Map(seqs.map((seq, i) => [seq, i]));
    const rows = this.stmt.take.all(leaseEnd, JSON.stringify(seqs)) as EntryRow[];
    return rows.sort((a, b) => order.get(a.seq)! - order.get(b.seq)!);
  };

  /**
   * Up to `max` due entries, shared among lanes: in rounds, each lane with entries due left
   * gets an equal part of what is still to pick (at least one), its oldest due first, until
   * `max` are picked or no lane has more. Lanes take their turns least recently served first
   * (then oldest due first): with more lanes than `max`, those left out this time come first
   * next time, so none starves. The reservation lists what was picked oldest due first, as
   * without lanes. One lane (the common case) is one range of the due index, as before lanes.
   */
  private pickFairly(max: number, now: number): number[] {
    const lanes = this.stmt.lanes.all() as number[];
    if (lanes.length === 0) return [];
    if (lanes.length === 1) return this.stmt.pickSeqs.all(lanes[0], now, max) as number[];
    const due = lanes.flatMap((lane) => {
      const head = this.stmt.laneHead.get(lane, now) as number | undefined;
      return head === undefined ? [] : [{ lane, head, served: this.served.get(lane) ?? 0 }];
    });
    let active = due.sort((a, b) => a.served - b.served || a.head - b.head || a.lane - b.lane).map((d) => d.lane);
    const taken = new Map<number, number>();
    const picked: Picked[] = [];
    const turn = ++this.turns;
    while (picked.length < max && active.length > 0) {
      const share = Math.max(1, Math.floor((max - picked.length) / active.length));
      const more: number[] = [];
      for (const lane of active) {
        const want = Math.min(share, max - picked.length);
        if (want === 0) break;
        const rows = this.stmt.pick.all(lane, now, want, taken.get(lane) ?? 0) as Picked[];
        picked.push(...rows);
        taken.set(lane, (taken.get(lane) ?? 0) + rows.length);
        if (rows.length > 0) this.served.set(lane, turn);
        if (rows.length === want) more.push(lane);
      }
      active = more;
    }
    return picked.sort((a, b) => a.due_at - b.due_at || a.seq - b.seq).map((p) => p.seq);
  }

  async reserve(max: number, leaseMs: number, now: number = Date.now()): Promise<Reservation[]> {
    const rows = this.guard("reserve", () => this.db.transaction(this.reserveTx).immediate(max, now + leaseMs, now));
    return rows.map(this.reservation);
  }

  private readonly reservation = (row: EntryRow): Reservation => ({
    postbackId: row.postback_id,
    endpoint: this.endpoint(row.endpoint_id),
    data: row.data,
    attempt: row.attempts,
    createdAt: row.created_at,
    lease: String(row.lease),
  });

  /** Whether the last settle let the next entry of a line go (waitForWork must hear of it). */
  private advanced = false;

  private readonly settleTx = (settlements: Settlement[]): number => {
    let held = 0;
    this.advanced = false;
    const done = new Map<string, number>();
    for (const { reservation: r, settle } of settlements) {
      const lease = Number(r.lease);
      if (settle.kind === "done") {
        const gone = this.stmt.remove.get(r.postbackId, lease) as { endpoint_id: string; order_key: string | null } | undefined;
        if (gone) {
          held++;
          done.set(gone.endpoint_id, (done.get(gone.endpoint_id) ?? 0) + 1);
          if (gone.order_key !== null && this.stmt.advance.run(gone.order_key).changes > 0) this.advanced = true;
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
    if (this.advanced || settlements.some((s) => s.settle.kind !== "done")) this.wake();
    return held;
  }

  /** One IMMEDIATE transaction: one commit (and its WAL write) where settle then reserve took two. */
  async settleAndReserve(settlements: Settlement[], max: number, leaseMs: number, now?: number): Promise<{ settled: number; reserved: Reservation[] }> {
    const { settled, reserved } = await this.settleAndReserveAfter(noWrite, settlements, max, leaseMs, now);
    return { settled, reserved };
  }

  /**
   * Runs `write` (a store's writes on this same connection), then settles and reserves, all in
   * one IMMEDIATE transaction: if any part throws, none of it happened. For the embedded
   * backend's FinishAndTake (src/store/sqlite-finished-work.ts); better-sqlite3 nests the
   * stores' own transactions inside as savepoints.
   */
  async settleAndReserveAfter<T>(
    write: () => T,
    settlements: Settlement[],
    max: number,
    leaseMs: number,
    now: number = Date.now(),
  ): Promise<{ written: T; settled: number; reserved: Reservation[] }> {
    const { written, settled, rows } = this.guard("settle and reserve", () =>
      this.db.transaction(this.settleAndReserveTx).immediate(write, settlements, max, now + leaseMs, now),
    ) as { written: T; settled: number; rows: EntryRow[] };
    if (this.advanced || settlements.some((s) => s.settle.kind !== "done")) this.wake();
    return { written, settled, reserved: rows.map(this.reservation) };
  }

  private readonly settleAndReserveTx = (write: () => unknown, settlements: Settlement[], max: number, leaseEnd: number, now: number) => {
    const written = write();
    this.advanced = false;
    const settled = settlements.length > 0 ? this.settleTx(settlements) : 0;
    // Reserved after the settle, in its light: an entry just settled for a retry later than now
    // is not due, and a line whose head was just settled done offers its next entry.
    const rows = max > 0 ? this.reserveTx(max, leaseEnd, now) : [];
    return { written, settled, rows };
  };

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
      // Held, or blocked in its line: no time of its own.
      dueAt: row.held_for == null && row.due_at !== BLOCKED_DUE ? row.due_at : null,
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

const noWrite = (): undefined => undefined;

function duplicate(id: string): DuplicateIdError {
  return new DuplicateIdError("queue", id, `postback ${id} is already queued or repeats in the batch; nothing was queued`);
}
