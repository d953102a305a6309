/**
 * Chooses and opens the queue and store adapters the config asks for. The embedded default:
 * both in one SQLite file in the data dir.
 */
import { join } from "node:path";
import type { Config } from "./config.js";
import type { Queue } from "./queue/port.js";
import type { Store } from "./store/port.js";
import { SqliteQueue } from "./queue/sqlite.js";
import { SqliteStore } from "./store/sqlite.js";
import { openSqlite } from "./sqlite.js";

export interface Backends {
  queue: Queue;
  store: Store;
  /** What runs where, for the start-up log line. */
  describe: string;
  close(): Promise<void>;
}

export function sqlitePath(config: Pick<Config, "data_dir">): string {
  return join(config.data_dir, "ferry.db");
}

export async function openBackends(config: Config): Promise<Backends> {
  const path = sqlitePath(config);
  const db = openSqlite(path, { synchronous: config.sqlite_synchronous as "normal" | "full" });
  const queue = new SqliteQueue(db);
  const store = new SqliteStore(db);
  return {
    queue,
    store,
    describe: `queue and store in SQLite ${path}`,
    async close() {
      await queue.close();
      await store.close();
      db.close();
    },
  };
}
