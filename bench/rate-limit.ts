/**
 * The rate-limit scenario (issue 14): does a destination's `rate_limit` hold across workers?
 *
 * Per backend: an account and one destination (the receiver's port, GET) with `rate_limit` R
 * and `rate_limit_burst` 1, made through the API; `ferry api` alone takes R × seconds postbacks
 * through POST /v1/push (no worker runs), then the workers start — two `ferry worker` beside
 * the API on redis-postgres, one `ferry start` on embedded — and the receiver records when each
 * postback arrived.
 *
 * Measured: the rate over the steady window (the first and the last second of arrivals left
 * out: the workers starting one after the other, and the tail), against R; and the most
 * postbacks the partner got within one second (1 s buckets from the first arrival). Target:
 * steady rate ÷ R within 0.90–1.10. A limit per worker process, not per destination, shows as
 * a ratio near the number of workers.
 */
import { loadavg } from "node:os";
import { createAccount, destinationView, pushBody } from "./accounts.js";
import type { BackendName } from "./options.js";
import { runPhase } from "./phases.js";
import { QueuedFirst } from "./queued-first.js";
import type { Context } from "./scenarios.js";
import { round } from "./stats.js";

/** Worker processes on redis-postgres (embedded has one `ferry start`). */
export const RATE_LIMIT_WORKERS = 2;
/** Postbacks per push while the backlog is filled. */
const PUSH_SIZE = 100;

export interface RateLimitResult {
  name: BackendName;
  processes: string[];
  /** The destination as the API showed it: rate_limit, rate_limit_burst. */
  rate_limit: number;
  rate_limit_burst: number | null;
  postbacks: number;
  /** First postback received → last. */
  seconds: number;
  /** postbacks − 1 ÷ seconds: the whole run. */
  overall_per_s: number;
  /** The steady window: arrivals from first + 1 s to last − 1 s (the whole run when that is under 1 s). */
  steady: { from_s: number; to_s: number; postbacks: number; per_s: number };
  /** steady.per_s ÷ rate_limit (target 0.90–1.10). */
  ratio: number;
  /** The most arrivals in one 1 s bucket (buckets from the first arrival), and every bucket's count. */
  max_per_second: number;
  per_second: number[];
  /** 1-minute load average as the drain began. */
  load_average_at_start: number;
}

/** One backend's run. */
export async function rateLimitScenario(ctx: Context, name: BackendName): Promise<RateLimitResult> {
  const { options: o, helpers: h } = ctx;
  const port = Number(new URL(ctx.receiverUrl).port);
  const ferry = await QueuedFirst.open(ctx, name);
  try {
    const account = await createAccount(ferry.url, "rate-limited", {
      url: `${ctx.receiverUrl}/limited?n={n}`, method: "GET", rate_limit: o.rateLimit, rate_limit_burst: 1,
    });
    const view = await destinationView(ferry.url, account);
    const requests = Math.ceil((o.rateLimit * o.rateLimitSeconds) / PUSH_SIZE);
    const total = requests * PUSH_SIZE;
    const body = pushBody(PUSH_SIZE);
    await runPhase(h, {
      label: `${name}: rate limit ${o.rateLimit}/s, backlog fill (no worker)`,
      job: { type: "ingest", url: `${ferry.url}/v1/push`, token: account.token, body, requests, concurrency: 1, via: "undici" },
      progressFrom: "load",
      watch: ferry.procs,
    });
    const loadAverage = round(loadavg()[0]!, 2);
    const watch = [...ferry.procs];
    const r = await runPhase(h, {
      label: `${name}: rate limit ${o.rateLimit}/s, drain`,
      expect: total,
      record: [port],
      progressFrom: "receiver",
      begin: async () => {
        await ferry.startWorkers(RATE_LIMIT_WORKERS);
        watch.splice(0, watch.length, ...ferry.procs);
      },
      watch,
    });
    const at = r.received!.records![String(port)]!.at;
    return { name, processes: ferry.processes(), rate_limit: Number(view["rate_limit"]), rate_limit_burst: (view["rate_limit_burst"] as number | null) ?? null, ...rates(at, o.rateLimit), load_average_at_start: loadAverage };
  } finally {
    await ferry.stop();
  }
}

/** The figures of one run from its arrival times (epoch ms, in order). */
export function rates(at: number[], limit: number): Omit<RateLimitResult, "name" | "processes" | "rate_limit" | "rate_limit_burst" | "load_average_at_start"> {
  const first = at[0]!;
  const last = at[at.length - 1]!;
  const seconds = (last - first) / 1000;
  let from = first + 1000;
  let to = last - 1000;
  if (to - from < 1000) (from = first), (to = last);
  let inside = 0;
  for (const t of at) if (t >= from && t < to) inside++;
  const perS = to > from ? inside / ((to - from) / 1000) : NaN;
  const perSecond: number[] = [];
  for (const t of at) {
    const k = Math.floor((t - first) / 1000);
    while (perSecond.length <= k) perSecond.push(0);
    perSecond[k]!++;
  }
  return {
    postbacks: at.length,
    seconds: round(seconds, 3),
    overall_per_s: round(seconds > 0 ? (at.length - 1) / seconds : NaN, 1),
    steady: { from_s: round((from - first) / 1000, 3), to_s: round((to - first) / 1000, 3), postbacks: inside, per_s: round(perS, 1) },
    ratio: round(perS / limit, 3),
    max_per_second: Math.max(...perSecond),
    per_second: perSecond,
  };
}
