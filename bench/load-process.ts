/**
 * The bench's load generator, in its own process (forked by the parent with an IPC channel).
 *
 * - `ingest`, closed loop: `concurrency` requests in flight, each sent when the previous one
 *   was answered; latency from send to the complete 202. With `bodies`, request i sends
 *   bodies[i mod n] (the isolation scenario: its destinations interleaved evenly).
 * - `ingest`, open loop (`ratePerSecond`): request i is due at t0 + i/rate whatever the answers
 *   do; latency from the time it was due (so a stall is not hidden by sending less).
 * - `direct`: the baseline. The postbacks Ferry would deliver — the same URLs rendered by
 *   Ferry's own template code, the same method and headers — sent straight to the receiver by
 *   an undici Agent with `concurrency` connections and requests in flight.
 */
import { Agent, request } from "undici";
import { compileTemplate, renderTemplate } from "../src/core/template.js";
import { newPostbackId } from "../src/core/ids.js";
import { VERSION } from "../src/version.js";
import { summarize } from "./stats.js";
import type { FromLoad, LoadResult, ToLoad } from "./protocol.js";

const send = (message: FromLoad) => process.send!(message);

function reporter(phase: string): { tick(): void; stop(): void } {
  let done = 0;
  let reported = -1;
  const timer = setInterval(() => {
    if (done !== reported) send({ type: "progress", phase, done: (reported = done) });
  }, 200);
  return { tick: () => void done++, stop: () => clearInterval(timer) };
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
  const one = async (i: number, from: number) => {
    const res = await request(job.url, { method: "POST", body: bodies[i % bodies.length]!, headers, dispatcher: agent });
    const text = await res.body.text();
    if (res.statusCode !== 202) throw new Error(`ingest answered ${res.statusCode}: ${text.slice(0, 500)}`);
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

process.on("message", (job: ToLoad) => {
  const run = job.type === "ingest" ? ingest(job) : direct(job);
  run.then(
    (result) => send({ type: "result", phase: job.phase, result }),
    (err: Error) => send({ type: "error", phase: job.phase, message: err.stack ?? err.message }),
  );
});
process.on("disconnect", () => process.exit(0));
