/**
 * The embedded database: one SQLite file in the data dir, shared by the SQLite queue and
 * store (one connection per process). Limits, as SQLite has them: one writer at a time across
 * processes (others wait up to busy_timeout), and a worker in another process learns of new
 * work by polling.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type SqliteDatabase = Database.Database;

export interface OpenOptions {
  /** normal: a commit survives any process crash; full: also power loss (fsync per commit). */
  synchronous?: "normal" | "full";
}

export function openSqlite(path: string, options: OpenOptions = {}): SqliteDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("busy_timeout = 5000");
  enableWal(db);
  db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
  db.exec("CREATE TABLE IF NOT EXISTS ferry_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component, version))");
  return db;
}

/**
 * Switches the file to WAL (it stays so). On a new file another process opening it at the same
 * moment makes the switch fail with SQLITE_BUSY at once, without busy_timeout: retry a while.
 */
function enableWal(db: SqliteDatabase): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/**
 * Applies the migrations of one component (e.g. "queue") not applied yet, each in its own
 * transaction. `migrations[i]` is version i+1; append, never edit.
 */
export function migrate(db: SqliteDatabase, component: string, migrations: readonly string[]): void {
  const applied = new Set(
    db.prepare("SELECT version FROM ferry_migrations WHERE component = ?").pluck().all(component) as number[],
  );
  migrations.forEach((sql, i) => {
    const version = i + 1;
    if (applied.has(version)) return;
    db.transaction(() => {
      // Two processes starting at once may both have read `applied` before either migrated:
      // check again under the write lock, so that the second one does not run it again.
      if (db.prepare("SELECT 1 FROM ferry_migrations WHERE component = ? AND version = ?").get(component, version)) return;
      db.exec(sql);
      db.prepare("INSERT OR IGNORE INTO ferry_migrations (component, version) VALUES (?, ?)").run(component, version);
    }).immediate();
  });
}
