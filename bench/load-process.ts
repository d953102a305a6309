/**
 * The bench's load generator, in its own process (forked by the parent with an IPC channel).
 *
 * - `ingest` and `events` are sent by undici's request() with the body serialized once, or, with
 *   `via: "client"`, by @ferry/client (`ferry.ingest`, `ferry.events.send`: fetch, the body
 *   serialized per request) over the same Agent, so both hold the same connections.
 * - `ingest`, closed loop: `concurrency` requests in flight, each sent when the previous one
 *   was answered; latency from send to the complete 202. With `bodies`, request i sends
 *   bodies[i mod n] (the isolation scenario: its destinations interleaved evenly).
 * - `ingest`, open loop (`ratePerSecond`): request i is due at t0 + i/rate whatever the answers
 *   do; latency from the time it was due (so a stall is not hidden by sending less).
 * - `events`: the events scenario's ingest, generated on the fly (bench/events-data.ts): batches
 *   of events POSTed to /v1/events, closed loop; latency from send to the complete 201.
 * - `event-queries`: the events scenario's queries, one at a time (bench/events.ts says which).
 * - `direct`: the baseline. The postbacks Ferry would deliver — the same URLs rendered by
 *   Ferry's own template code, the same method and headers — sent straight to the receiver by
 *   an undici Agent with `concurrency` connections and requests in flight.
 */
import { Agent, request } from "undici";
import { Ferry, type EventInput, type IngestRequest } from "@ferry/client";
import { compileTemplate, renderTemplate } from "../src/core/template.js";
import { newPostbackId } from "../src/core/ids.js";
import { VERSION } from "../src/version.js";
import { formatEventTime } from "../src/core/event-time.js";
import { summarize } from "./stats.js";
import { EventData, HOUR_US, QueryDraw } from "./events-data.js";
import type { FromLoad, LoadResult, QuerySummary, ToLoad } from "./protocol.js";

const send = (message: FromLoad) => process.send!(message);

function reporter(phase: string): { tick(): void; stop(): void } {
  let done = 0;
  let reported = -1;
  const timer = setInterval(() => {
    if (done !== reported) send({ type: "progress", phase, done: (reported = done) });
  }, 200);
  return { tick: () => void done++, stop: () => clearInterval(timer) };
}

/**
 * @ferry/client over the job's Agent (Node's fetch takes undici's dispatcher), with no timeout:
 * the undici path has none either, and a per-request timer would be one more cost.
 */
function clientOver(url: string, token: string, agent: Agent): Ferry {
  const dispatcher = { dispatcher: agent } as unknown as RequestInit;
  return new Ferry({ url: new URL(url).origin, token, timeoutMs: 0, fetch: (req) => fetch(req, dispatcher) });
}

async function ingest(job: Extract<ToLoad, { type: "ingest" }>): Promise<LoadResult> {
  const open = job.ratePerSecond !== undefined;
  // Open loop: as many connections as it takes, so the client never queues a due request.
  const agent = new Agent({ connections: open ? null : job.concurrency, keepAliveTimeout: 60_000 });
  const headers = { authorization: `Bearer ${job.token}`, "content-type": "application/json" };
  const latency = new Float64Array(job.requests);
  const progress = reporter(job.phase);
  let failure: Error | undefined;
  const bodies = job.bodies?.length ? job.bodies : [job.body];
  // The client takes objects, as a user's code has them: parsed once here, serialized per request there.
  const ferry = job.via === "client" ? clientOver(job.url, job.token, agent) : undefined;
  const requests = ferry ? bodies.map((b) => JSON.parse(b) as IngestRequest) : [];
  const one = async (i: number, from: number) => {
    if (ferry) {
      await ferry.ingest(requests[i % requests.length]!);
    } else {
      const res = await request(job.url, { method: "POST", body: bodies[i % bodies.length]!, headers, dispatcher: agent });
      const text = await res.body.text();
      if (res.statusCode !== 202) throw new Error(`ingest answered ${res.statusCode}: ${text.slice(0, 500)}`);
    }
    latency[i] = performance.now() - from;
    progress.tick();
  };
  const t0 = Date.now();
  try {
    if (!open) {
      let next = 0;
      await Promise.all(
        Array.from({ length: job.concurrency }, async () => {
          while (next < job.requests && !failure) {
            const i = next++;
            await one(i, performance.now());
          }
        }),
      );
    } else {
      const interval = 1000 / job.ratePerSecond!;
      const start = performance.now();
      const pending: Promise<void>[] = [];
      for (let i = 0; i < job.requests && !failure; ) {
        const now = performance.now();
        for (; i < job.requests && start + i * interval <= now; i++) {
          const due = start + i * interval;
          pending.push(one(i, due).catch((err: Error) => void (failure ??= err)));
        }
        if (i < job.requests) await new Promise((r) => setTimeout(r, Math.max(0, start + i * interval - performance.now())));
      }
      await Promise.all(pending);
    }
  } finally {
    progress.stop();
  }
  if (failure) throw failure;
  const t1 = Date.now();
  await agent.close();
  return { requests: job.requests, t0, t1, latencyMs: summarize(latency) };
}

async function direct(job: Extract<ToLoad, { type: "direct" }>): Promise<LoadResult> {
  const template = compileTemplate(job.template);
  const urls = job.data.map((d) => renderTemplate(template, d, ""));
  // As Ferry's worker does: POST, PUT and PATCH carry the data object as JSON.
  const withBody = ["POST", "PUT", "PATCH"].includes(job.method);
  const bodies = job.data.map((d) => JSON.stringify(d));
  const agent = new Agent({ connections: job.concurrency, keepAliveTimeout: 60_000 });
  const latency = new Float64Array(job.total);
  const progress = reporter(job.phase);
  const userAgent = `Ferry/${VERSION}`;
  let next = 0;
  const t0 = Date.now();
  try {
    await Promise.all(
      Array.from({ length: job.concurrency }, async () => {
        while (next < job.total) {
          const i = next++;
          const s = performance.now();
          const k = i % urls.length;
          const headers: Record<string, string> = { "user-agent": userAgent, "webhook-id": newPostbackId() };
          if (withBody) headers["content-type"] = "application/json";
          const res = await request(urls[k]!, {
            method: job.method as "GET",
            headers,
            body: withBody ? bodies[k] : undefined,
            dispatcher: agent,
          });
          await res.body.dump();
          if (res.statusCode !== 200) throw new Error(`receiver answered ${res.statusCode}`);
          latency[i] = performance.now() - s;
          progress.tick();
        }
      }),
    );
  } finally {
    progress.stop();
  }
  const t1 = Date.now();
  await agent.close();
  return { requests: job.total, t0, t1, latencyMs: summarize(latency) };
}

async function events(job: Extract<ToLoad, { type: "events" }>): Promise<LoadResult> {
  const data = new EventData(job.events);
  const agent = new Agent({ connections: job.concurrency, keepAliveTimeout: 60_000 });
  const headers = { authorization: `Bearer ${job.token}`, "content-type": "application/json" };
  const ferry = job.via === "client" ? clientOver(job.url, job.token, agent) : undefined;
  const latency = new Float64Array(job.requests);
  const progress = reporter(job.phase);
  let next = 0;
  let failure: Error | undefined;
  const t0 = Date.now();
  try {
    await Promise.all(
      Array.from({ length: job.concurrency }, async () => {
        while (next < job.requests && !failure) {
          const i = next++;
          // Made just before it is sent: a million events never sit in memory. For the client,
          // objects (parsed before the clock starts), as a user's code has them.
          const body = data.body(i * job.batch, (i + 1) * job.batch);
          const batch = ferry ? (JSON.parse(body) as EventInput[]) : undefined;
          const s = performance.now();
          try {
            if (ferry) {
              const answer = await ferry.events.send(batch!);
              if (answer.status !== 201) throw new Error(`POST /v1/events answered ${answer.status}: ${JSON.stringify(answer.events).slice(0, 500)}`);
            } else {
              const res = await request(job.url, { method: "POST", body, headers, dispatcher: agent });
              const text = await res.body.text();
              if (res.statusCode !== 201) throw new Error(`POST /v1/events answered ${res.statusCode}: ${text.slice(0, 500)}`);
            }
          } catch (err) {
            failure ??= err as Error;
            return;
          }
          latency[i] = performance.now() - s;
          progress.tick();
        }
      }),
    );
  } finally {
    progress.stop();
  }
  if (failure) throw failure;
  const t1 = Date.now();
  await agent.close();
  return { requests: job.requests, t0, t1, latencyMs: summarize(latency) };
}

/** The HTTP queries of the events scenario, by kind: the path and query of one, drawn at random. */
export function eventQueryKinds(draw: QueryDraw): Record<string, () => string> {
  const range = () => {
    const from = draw.hour();
    return `from=${encodeURIComponent(formatEventTime(from))}&to=${encodeURIComponent(formatEventTime(from + HOUR_US))}`;
  };
  return {
    // No store work: what HTTP, the token check and the two processes' wake-ups cost alone.
    http_baseline: () => `/v1/event-types/no-such-category-${draw.category()}`,
    session_view: () => `/v1/sessions/${encodeURIComponent(draw.session())}`,
    session_events: () => `/v1/events?session_id=${encodeURIComponent(draw.session())}&limit=1000`,
    category_hour: () => {
      const r = range();
      return `/v1/events?category=${draw.category()}&${r}&limit=1000`;
    },
    all_hour: () => `/v1/events?${range()}&limit=1000`,
    sessions_hour: () => `/v1/sessions?${range()}&limit=100`,
  };
}

async function eventQueries(job: Extract<ToLoad, { type: "event-queries" }>): Promise<LoadResult> {
  const data = new EventData(job.events);
  const kinds = eventQueryKinds(new QueryDraw(data));
  const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  const headers = { authorization: `Bearer ${job.token}` };
  const progress = reporter(job.phase);
  const rowsOf = (body: { events?: unknown[]; data?: unknown[] }) => (body.events ?? body.data ?? []).length;
  const one = async (path: string): Promise<number> => {
    const res = await request(job.url + path, { headers, dispatcher: agent });
    const text = await res.body.text();
    if (path.startsWith("/v1/event-types/")) {
      if (res.statusCode !== 404) throw new Error(`GET ${path} answered ${res.statusCode}, not 404: ${text.slice(0, 500)}`);
      return 0;
    }
    if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}: ${text.slice(0, 500)}`);
    return rowsOf(JSON.parse(text) as { events?: unknown[]; data?: unknown[] });
  };
  const queries: Record<string, QuerySummary> = {};
  const all: number[] = [];
  const t0 = Date.now();
  try {
    for (const [kind, make] of Object.entries(kinds)) {
      for (let i = 0; i < 20; i++) await one(make()); // warm-up
      const ms = new Float64Array(job.perKind);
      let rows = 0;
      for (let i = 0; i < job.perKind; i++) {
        const path = make();
        const s = performance.now();
        // The answer read in full and parsed: what a client waits for.
        rows += await one(path);
        ms[i] = performance.now() - s;
        all.push(ms[i]!);
        progress.tick();
      }
      queries[kind] = { ...summarize(ms), rows: Math.round(rows / job.perKind) };
    }
  } finally {
    progress.stop();
  }
  const t1 = Date.now();
  await agent.close();
  return { requests: job.requests, t0, t1, latencyMs: summarize(all), queries };
}

process.on("message", (job: ToLoad) => {
  const run = job.type === "ingest" ? ingest(job) : job.type === "events" ? events(job) : job.type === "event-queries" ? eventQueries(job) : direct(job);
  run.then(
    (result) => send({ type: "result", phase: job.phase, result }),
    (err: Error) => send({ type: "error", phase: job.phase, message: err.stack ?? err.message }),
  );
});
process.on("disconnect", () => process.exit(0));
