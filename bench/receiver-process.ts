/**
 * The bench's receiver, in its own process (forked by the parent with an IPC channel): plain
 * node:http servers that answer 200 "ok" at once. For each phase the parent says how many
 * distinct postbacks to expect; the receiver counts distinct `webhook-id`s, measures each
 * postback's enqueue→delivery latency as its receive time minus the creation time in the
 * id's ULID (`pb_` + ULID; Ferry makes the id at ingest, just before the enqueue commits),
 * and reports when the last one arrived.
 *
 * One port at start; the isolation scenario asks for more ("destinations": one port each, so
 * each is an origin of its own to Ferry), says which of them count toward the phase, and which
 * hang: accept each request and never answer it, until the next phase. A phase may have the
 * other ports answer after a delay (slow healthy partners), and may ask for some ports' arrivals
 * to be recorded one by one (two pushes into arrays per new postback: the rate-limit and
 * fairness scenarios compute rates per second and one account's latencies from them).
 * Every phase also keeps, per 100 ms from its first counted postback, a count and a latency
 * histogram (an array index and one increment per postback): the bench's charts come from them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeTime } from "ulid";
import { MsHistogram } from "./stats.js";
import type { Arrivals, FromReceiver, Timeline, PortReceived, ToReceiver } from "./protocol.js";

const send = (message: FromReceiver) => process.send!(message);

interface Phase {
  name: string;
  count: number;
  /** Ports that count toward `count`; undefined: all. */
  counted: Set<number> | undefined;
  /** Every webhook-id seen in the phase, on any port (an id belongs to one destination). */
  ids: Set<string>;
  /** Distinct ids on the counted ports. */
  n: number;
  requests: number;
  firstAt: number;
  lastAt: number;
  latency: MsHistogram;
  /** Per BUCKET_MS from firstAt: a count and a latency histogram each (from 256 B; a few KiB per second of run). */
  buckets: Array<{ n: number; latency: MsHistogram }>;
  ports: Map<number, PortReceived>;
  /** answerMs of the phase; 0: answer at once. */
  answerMs: number;
  records: Map<number, Arrivals>;
  done: boolean;
}

let phase: Phase | undefined;
/** Ports that hang in the current phase, and the requests they hold. */
let hanging = new Set<number>();
const held = new Set<ServerResponse>();

function handle(port: number, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on("end", () => {
    const hang = hanging.has(port);
    if (hang) {
      // Accepted, never answered: Ferry's timeout ends it (and closes the connection).
      held.add(res);
      res.once("close", () => held.delete(res));
    } else if (phase && phase.answerMs > 0) {
      setTimeout(() => res.end("ok"), phase.answerMs);
    } else {
      res.end("ok");
    }
    const p = phase;
    if (!p || p.done) return;
    const now = Date.now();
    const id = req.headers["webhook-id"];
    let stats = p.ports.get(port);
    if (!stats) p.ports.set(port, (stats = { count: 0, requests: 0, firstAt: 0, lastAt: 0 }));
    stats.requests++;
    const counted = !hang && (p.counted === undefined || p.counted.has(port));
    if (counted) p.requests++;
    if (typeof id !== "string" || p.ids.has(id)) return;
    p.ids.add(id);
    if (++stats.count === 1) stats.firstAt = now;
    stats.lastAt = now;
    const record = p.records.get(port);
    if (!counted && !record) return;
    const latency = latencyOf(id, now);
    if (record) {
      record.at.push(now);
      record.latencyMs.push(latency);
    }
    if (!counted) return;
    if (++p.n === 1) p.firstAt = now;
    p.lastAt = now;
    const i = Math.floor((now - p.firstAt) / BUCKET_MS);
    let bucket = p.buckets[i];
    if (!bucket) while (p.buckets.length <= i) p.buckets.push((bucket = { n: 0, latency: new MsHistogram(64) }));
    bucket!.n++;
    if (!Number.isNaN(latency)) {
      p.latency.add(latency);
      bucket!.latency.add(latency);
    }
    if (p.n >= p.count) finish(p);
  });
}

/** Receive time minus the creation time in a `pb_` + ULID id; NaN for any other id. */
function latencyOf(id: string, now: number): number {
  if (!id.startsWith("pb_")) return NaN;
  try {
    return now - decodeTime(id.slice(3));
  } catch {
    return NaN;
  }
}

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    let port = 0;
    const server = createServer((req, res) => handle(port, req, res));
    server.keepAliveTimeout = 60_000;
    server.listen(0, "127.0.0.1", () => {
      port = (server.address() as AddressInfo).port;
      resolve({ server, port });
    });
  });
}

function finish(p: Phase): void {
  p.done = true;
  send({
    type: "done",
    phase: p.name,
    result: {
      count: p.n,
      requests: p.requests,
      firstAt: p.firstAt,
      lastAt: p.lastAt,
      latencyMs: p.latency.summary(),
      byPort: Object.fromEntries(p.ports),
      timeline: timeline(p),
      ...(p.records.size ? { records: Object.fromEntries(p.records) } : {}),
    },
  });
  p.ids = new Set(); // free a million ids before the next phase
}

/** 100 ms: a short run (a 2,000-request one lasts seconds) still draws as a curve. */
const BUCKET_MS = 100;

/** The phase's buckets as plain arrays (computed once, after its last postback). */
function timeline(p: Phase): Timeline {
  const out: Timeline = { bucket_ms: BUCKET_MS, span_ms: p.lastAt - p.firstAt, n: [], p50: [], p99: [] };
  for (const b of p.buckets) {
    const s = b.latency.summary();
    out.n.push(b.n);
    out.p50.push(s.samples ? s.p50 : null);
    out.p99.push(s.samples ? s.p99 : null);
  }
  return out;
}

const destinations: number[] = [];

process.on("message", (message: ToReceiver) => {
  if (message.type === "expect") {
    // What a hanging port still holds belongs to a phase (and a Ferry process) that is over.
    for (const res of held) res.destroy();
    held.clear();
    hanging = new Set(message.hanging ?? []);
    phase = {
      name: message.phase,
      count: message.count,
      counted: message.counted ? new Set(message.counted) : undefined,
      ids: new Set(),
      n: 0,
      requests: 0,
      firstAt: 0,
      lastAt: 0,
      latency: new MsHistogram(),
      buckets: [],
      ports: new Map(),
      answerMs: message.answerMs ?? 0,
      records: new Map((message.record ?? []).map((port) => [port, { at: [], latencyMs: [] }])),
      done: false,
    };
  } else if (message.type === "destinations") {
    void (async () => {
      while (destinations.length < message.count) destinations.push((await listen()).port);
      send({ type: "destinations", ports: destinations.slice(0, message.count) });
    })();
  }
});

let reported = -1;
setInterval(() => {
  const p = phase;
  if (p && !p.done && p.n !== reported) {
    reported = p.n;
    send({ type: "progress", phase: p.name, done: p.n });
  }
}, 200);

process.on("disconnect", () => process.exit(0));
void listen().then(({ port }) => send({ type: "ready", port }));
