/**
 * Issue 8, bug 2: a postback waiting in its origin's line must never outlive its lease and be
 * sent twice. A real worker on a real SQLite queue and store, a real receiver on 127.0.0.1.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, startPipeline } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";

test("a slow origin's line longer than the lease: every postback is received exactly once", async () => {
  const perId = new Map<string, number>();
  const receiver = await startReceiver({
    record: false,
    onRequest: (req) => {
      const id = String(req.headers["webhook-id"]);
      perId.set(id, (perId.get(id) ?? 0) + 1);
    },
    respond: () => ({ delayMs: 200 }),
  });
  // One at a time, 200 ms each: 40 postbacks take 8 s, far longer than a 3 s lease.
  const p = await startPipeline({ origin_concurrency: 1, lease_ms: 3000, timeout_ms: 500 });
  try {
    const data = Array.from({ length: 40 }, (_, i) => ({ n: i }));
    const res = await p.ingest({ endpoint: { method: "POST", url: `${receiver.url}/hook` }, data });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const ids = res.body.ids as string[];
    // Done when the queue is empty: nothing is leased any more, so no copy can still be sent.
    const finished = await eventually(
      async () => {
        const stats = await p.backends.queue.stats();
        return perId.size === ids.length && stats.ready === 0 && stats.waiting === 0;
      },
      30_000,
      "every postback received and the queue empty",
    ).catch((err: Error) => err);
    const notOnce = ids.filter((id) => perId.get(id) !== 1).map((id) => `${id}: ${perId.get(id) ?? 0}`);
    assert.deepEqual(notOnce, [], `postbacks received other than once (of ${receiver.count()} requests)`);
    assert.equal(finished, true);
    assert.equal(receiver.count(), ids.length);
    assert.ok(p.worker!.counts.released > 0, "some postbacks went back to the queue rather than wait past their lease");
  } finally {
    await p.stop();
    await receiver.close();
  }
});
