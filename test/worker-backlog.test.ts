/**
 * A worker that starts on a backlog (issue 16): the flush that settles finished work also
 * reserves the next batch, and postbacks given back at once (their origin not yet proven) must
 * not be settled and replaced in a loop that never lets a request out. A real worker on a real
 * SQLite queue and store (one connection: the embedded backend's one-transaction path), a real
 * receiver on 127.0.0.1.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, startPipeline } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";

test("a worker started on a backlog sends at once, and gives back few postbacks while its origin is unproven", async () => {
  const receiver = await startReceiver({ record: false });
  const p = await startPipeline({}, { worker: false });
  try {
    const BACKLOG = 20_000;
    for (let i = 0; i < BACKLOG; i += 1000) {
      const data = Array.from({ length: 1000 }, (_, j) => ({ n: i + j }));
      const res = await p.ingest({ endpoint: { method: "GET", url: `${receiver.url}/hit?n={n}` }, data });
      assert.equal(res.status, 202, JSON.stringify(res.body));
    }
    const worker = p.startWorker();
    await eventually(async () => receiver.count() > 0, 5_000, "a first request to reach the receiver");
    await eventually(async () => receiver.count() >= BACKLOG, 60_000, "the whole backlog delivered");
    // Before the fix every entry of the backlog went round at least once, reserved and given
    // back unattempted, before the first request left (20,000 here, and a backlog of 200,000
    // sent nothing for minutes); now only those reserved while the origin is unproven.
    assert.ok(worker.counts.released < BACKLOG / 4, `${worker.counts.released} postbacks given back unattempted`);
  } finally {
    await p.stop();
    await receiver.close();
  }
});
