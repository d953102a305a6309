/**
 * Issue 8, bug 3: partners that accept requests and never answer must not stop delivery to
 * the others, however many of them hang. A real worker on a real SQLite queue and store, real
 * TCP listeners on 127.0.0.1 that never answer, and a real receiver that does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { eventually, startPipeline } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";

/** A TCP listener that accepts connections and never answers. */
interface Hung {
  url: string;
  accepted: number;
  /** Connections the worker closed. */
  closed: number;
  /** Postbacks queued for it. */
  ids: string[];
  close(): Promise<void>;
}

async function hungListener(): Promise<Hung> {
  const sockets = new Set<Socket>();
  const hung: Hung = { url: "", accepted: 0, closed: 0, ids: [], close };
  const server: Server = createServer((socket) => {
    hung.accepted++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      hung.closed++;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hung.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  function close(): Promise<void> {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  }
  return hung;
}

const TIMEOUT_MS = 3000;
const HEALTHY = 20;

for (const n of [1, 4, 16]) {
  test(`${n} hung origin(s): a healthy origin gets all its postbacks while they hang`, async () => {
    const hung = await Promise.all(Array.from({ length: n }, hungListener));
    const healthy = await startReceiver({ record: false });
    // 16 slots, 2 per origin: without a cap, a few hung origins take them all.
    const p = await startPipeline({ concurrency: 16, origin_concurrency: 2, timeout_ms: TIMEOUT_MS, lease_ms: 20_000 });
    try {
      for (const h of hung) {
        const res = await p.ingest({ endpoint: { method: "POST", url: `${h.url}/hook`, max_attempts: 100 }, data: Array.from({ length: 10 }, (_, i) => ({ i })) });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        h.ids = res.body.ids as string[];
      }
      // Every hung origin has had an attempt time out (as recorded): the worker knows them all to hang.
      const timedOut = async (h: Hung) => {
        for (const id of h.ids) {
          const record = await p.backends.stores.postbacks.getPostback(id);
          if (record?.attempts.some((a) => a.error === "timeout")) return true;
        }
        return false;
      };
      await eventually(async () => (await Promise.all(hung.map(timedOut))).every(Boolean), 60_000, "a timed-out attempt at every hung origin");

      const started = Date.now();
      const res = await p.ingest({ endpoint: { method: "POST", url: `${healthy.url}/hook` }, data: Array.from({ length: HEALTHY }, (_, i) => ({ i })) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      // Within half a timeout: requests to the hung origins started alongside are still out.
      await healthy.waitFor(HEALTHY, TIMEOUT_MS / 2);
      assert.ok(hung.every((h) => h.accepted > 0), "every hung origin was reached");
      assert.ok(Date.now() - started < TIMEOUT_MS, `healthy postbacks took ${Date.now() - started} ms`);
    } finally {
      await p.stop();
      await healthy.close();
      await Promise.all(hung.map((h) => h.close()));
    }
  });
}
