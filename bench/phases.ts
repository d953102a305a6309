/**
 * One measured phase: tell the receiver how many postbacks to expect, start the load (if any),
 * follow progress, and fail fast when a Ferry process dies or nothing moves for too long.
 */
import type { Helper } from "./children.js";
import type { FerryProcess } from "./ferry.js";
import type { Progress } from "./progress.js";
import type { FromLoad, FromReceiver, LoadResult, Received, ToLoad, ToReceiver } from "./protocol.js";

export interface Helpers {
  receiver: Helper<ToReceiver, FromReceiver>;
  load: Helper<ToLoad, FromLoad>;
  progress: Progress;
  stallSeconds: number;
}

/** A load job without its phase name, which runPhase gives it. */
export type LoadJob = { [K in ToLoad["type"]]: Omit<Extract<ToLoad, { type: K }>, "phase"> }[ToLoad["type"]];

let phases = 0;

export async function runPhase(
  h: Helpers,
  spec: {
    label: string;
    /** Postbacks the receiver must get before the phase ends; none: the phase is the load alone. */
    expect?: number;
    /** Receiver ports whose postbacks count toward `expect` (none: all), and ports that hang. */
    counted?: number[];
    hanging?: number[];
    /** The other ports answer after this many ms. */
    answerMs?: number;
    /** Ports whose arrivals the receiver records one by one (Received.records). */
    record?: number[];
    /** The load; a function is called after `begin` (say, once the process it sends to is up). */
    job?: LoadJob | (() => LoadJob);
    /** What the bar follows: postbacks received, or ingest requests answered. */
    progressFrom: "receiver" | "load";
    /** Runs once the receiver expects the phase's postbacks (say, starts the worker). */
    begin?: () => Promise<void>;
    /** Ferry processes whose exit fails the phase (read after `begin`). */
    watch: FerryProcess[];
  },
): Promise<{ received?: Received; load?: LoadResult }> {
  const phase = `p${++phases}`;
  const total = spec.progressFrom === "receiver" ? spec.expect! : (spec.job && typeof spec.job !== "function" && "requests" in spec.job ? spec.job.requests : 0);
  h.progress.phase(spec.label, total, spec.progressFrom === "receiver" ? "postbacks" : "requests");
  let lastMove = Date.now();
  let lastDone = -1;
  const follow = (m: { phase: string; done: number }) => {
    if (m.phase !== phase) return;
    if (m.done !== lastDone) (lastDone = m.done), (lastMove = Date.now());
    h.progress.update(m.done);
  };
  const off = spec.progressFrom === "receiver" ? h.receiver.on("progress", follow) : h.load.on("progress", follow);
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (Date.now() - lastMove > h.stallSeconds * 1000) {
        reject(new Error(`${spec.label}: no progress for ${h.stallSeconds} s (at ${lastDone} of ${total}); set BENCH_STALL_SECONDS to wait longer`));
      }
    }, 1000);
  });
  try {
    const received = spec.expect !== undefined ? h.receiver.next("done", phase) : undefined;
    if (spec.expect !== undefined) {
      h.receiver.send({
        type: "expect", phase, count: spec.expect,
        ...(spec.counted ? { counted: spec.counted } : {}),
        ...(spec.hanging ? { hanging: spec.hanging } : {}),
        ...(spec.answerMs ? { answerMs: spec.answerMs } : {}),
        ...(spec.record ? { record: spec.record } : {}),
      });
    }
    await spec.begin?.();
    let load: Promise<LoadResult> | undefined;
    const job = typeof spec.job === "function" ? spec.job() : spec.job;
    if (job) {
      const result = h.load.next("result", phase);
      const error = h.load.next("error", phase).then((m) => Promise.reject(new Error(`${spec.label}: ${m.message}`)));
      error.catch(() => {});
      h.load.send({ ...job, phase } as ToLoad);
      load = Promise.race([result.then((m) => m.result), error]);
    }
    const all = Promise.all([received?.then((m) => m.result), load]);
    const [r, l] = await Promise.race([all, stalled, ...spec.watch.map((p) => p.crashed)]);
    return { ...(r ? { received: r } : {}), ...(l ? { load: l } : {}) };
  } finally {
    clearInterval(timer);
    off();
    h.progress.end();
  }
}
