/**
 * The bench's receiver, in its own process (forked by the parent with an IPC channel): a plain
 * node:http server that answers 200 "ok" at once. For each phase the parent says how many
 * distinct postbacks to expect; the receiver counts distinct `webhook-id`s, measures each
 * postback's enqueue→delivery latency as its receive time minus the creation time in the
 * id's ULID (`pb_` + ULID; Ferry makes the id at ingest, just before the enqueue commits),
 * and reports when the last one arrived.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeTime } from "ulid";
import { MsHistogram } from "./stats.js";
import type { FromReceiver, ToReceiver } from "./protocol.js";

const send = (message: FromReceiver) => process.send!(message);

let phase: { name: string; count: number; ids: Set<string>; requests: number; firstAt: number; lastAt: number; latency: MsHistogram; done: boolean } | undefined;

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.end("ok");
    const p = phase;
    if (!p || p.done) return;
    const now = Date.now();
    const id = req.headers["webhook-id"];
    p.requests++;
    if (typeof id !== "string" || p.ids.has(id)) return;
    p.ids.add(id);
    if (p.ids.size === 1) p.firstAt = now;
    p.lastAt = now;
    if (id.startsWith("pb_")) {
      try {
        p.latency.add(now - decodeTime(id.slice(3)));
      } catch {
        // not a ULID: no latency for it
      }
    }
    if (p.ids.size >= p.count) finish(p);
  });
});
server.keepAliveTimeout = 60_000;

function finish(p: NonNullable<typeof phase>): void {
  p.done = true;
  send({
    type: "done",
    phase: p.name,
    result: { count: p.ids.size, requests: p.requests, firstAt: p.firstAt, lastAt: p.lastAt, latencyMs: p.latency.summary() },
  });
  p.ids = new Set(); // free a million ids before the next phase
}

process.on("message", (message: ToReceiver) => {
  if (message.type === "expect") {
    phase = { name: message.phase, count: message.count, ids: new Set(), requests: 0, firstAt: 0, lastAt: 0, latency: new MsHistogram(), done: false };
  }
});

let reported = -1;
setInterval(() => {
  const p = phase;
  if (p && !p.done && p.ids.size !== reported) {
    reported = p.ids.size;
    send({ type: "progress", phase: p.name, done: p.ids.size });
  }
}, 200);

process.on("disconnect", () => process.exit(0));
server.listen(0, "127.0.0.1", () => send({ type: "ready", port: (server.address() as AddressInfo).port }));
