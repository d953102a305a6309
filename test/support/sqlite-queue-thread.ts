/**
 * A worker thread standing in for a separate Ferry process (`ferry api` or `ferry worker`) on
 * one SQLite file: its own connection, its own SqliteQueue. Used by test/queue.sqlite.test.ts.
 *
 * workerData: { path, role, start, ... } where `start` is a SharedArrayBuffer the threads wait
 * on so that they all begin at once.
 *   role "open":    opens the file (running migrations) and reports.
 *   role "api":     enqueues `batches` batches of `perBatch` postbacks, then sets flag[1].
 *   role "worker":  reserves and settles until flag[1] is set and nothing is left; reports the ids.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSqlite } from "../../src/sqlite.js";
import { SqliteQueue } from "../../src/queue/sqlite.js";
import { openSqliteStores } from "../../src/store/sqlite.js";

interface Input {
  path: string;
  role: "open" | "api" | "worker";
  start: SharedArrayBuffer;
  batches?: number;
  perBatch?: number;
  prefix?: string;
}

const input = workerData as Input;
const flags = new Int32Array(input.start);

async function main(): Promise<unknown> {
  Atomics.wait(flags, 0, 0); // until the test sets flag[0]
  const db = openSqlite(input.path);
  try {
    const queue = new SqliteQueue(db);
    openSqliteStores(db);
    if (input.role === "open") return { ok: true };
    if (input.role === "api") {
      for (let b = 0; b < input.batches!; b++) {
        const postbacks = Array.from({ length: input.perBatch! }, (_, i) => ({ id: `${input.prefix}-${b}-${i}`, data: JSON.stringify({ b, i }) }));
        await queue.enqueue({ endpoint: { id: `${input.prefix}-ep-${b}`, method: "GET", url: "http://x.example/{i}", defaultValue: "", maxAttempts: 3 }, postbacks, createdAt: Date.now() });
      }
      Atomics.store(flags, 1, 1);
      return { ok: true };
    }
    const reserved: string[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`gave up after 30 s with ${reserved.length} reserved; the API thread never finished`);
      const apiDone = Atomics.load(flags, 1) === 1;
      const got = await queue.reserve(10, 60_000);
      for (const r of got) {
        if (r.endpoint.id !== `${input.prefix}-ep-${JSON.parse(r.data).b}`) throw new Error(`wrong endpoint for ${r.postbackId}`);
        reserved.push(r.postbackId);
      }
      if (got.length) await queue.settle(got.map((reservation) => ({ reservation, settle: { kind: "done" as const } })));
      else if (apiDone) break;
    }
    return { ok: true, reserved };
  } finally {
    db.close();
  }
}

main().then(
  (result) => parentPort!.postMessage(result),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: String((err as Error)?.stack ?? err) }),
);
