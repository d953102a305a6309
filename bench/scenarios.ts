/**
 * The measured runs: the direct baseline, and for each backend a warm-up, the closed-loop run
 * (end to end, ingest and delivery latency, Redis bytes, peak RSS), the open-loop run at half
 * the closed-loop rate, and the backlog (queue N postbacks with no worker, then drain them).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFerry, type FerryProcess } from "./ferry.js";
import { runPhase, type Helpers } from "./phases.js";
import type { BackendName, Options } from "./options.js";
import type { BackendResult, CpuUse, EndToEnd } from "./report.js";
import type { Services } from "./services.js";
import type { Summary } from "./stats.js";
import type { Timeline } from "./protocol.js";
import { createAccount } from "./accounts.js";
import { round } from "./stats.js";
import { cpuMeter, postgresBackends, type Group } from "./cpu.js";

export const TOKEN = "bench-admin-token-0123456789";
/** The seed's data object, and its endpoint with the receiver in place of the partner's host. */
export const DATA_OBJECT = { mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" };
export const TEMPLATE_PATH = "/data?title={mascot}&image={location}&foo={bar}";

export interface Context {
  options: Options;
  helpers: Helpers;
  receiverUrl: string;
  services: Services | undefined;
  /** Ferry processes still running, stopped by the caller on failure. */
  running: Set<FerryProcess>;
  /** Temp dirs to remove at the end. */
  dirs: string[];
}

export function endpoint(ctx: Context): { method: string; url: string } {
  return { method: "GET", url: ctx.receiverUrl + TEMPLATE_PATH };
}

function ingestBody(ctx: Context): string {
  return JSON.stringify({ endpoint: endpoint(ctx), data: Array.from({ length: ctx.options.perRequest }, () => DATA_OBJECT) });
}

/** `postbacks` ÷ (t0, the first ingest request sent → lastAt, the last of them received). */
export function endToEnd(postbacks: number, t0: number, lastAt: number): EndToEnd {
  const seconds = (lastAt - t0) / 1000;
  return { postbacks, seconds: round(seconds, 3), postbacks_per_s: Math.round(postbacks / seconds) };
}

/** Starts a Ferry process, stopped by the caller on failure until `stop` is called. */
export async function start(ctx: Context, role: "start" | "api" | "worker", settings: Record<string, string>): Promise<FerryProcess> {
  const p = await startFerry(role, settings, ctx.options.ferryNodeArgs);
  ctx.running.add(p);
  return p;
}

/** Stops a Ferry process; resolves with its peak RSS (MiB). */
export async function stop(ctx: Context, p: FerryProcess): Promise<number | null> {
  const peak = await p.stop();
  ctx.running.delete(p);
  return peak ?? null;
}

export async function direct(ctx: Context): Promise<EndToEnd & { latency_ms: Summary; cpu: CpuUse; timeline: Timeline }> {
  const { options: o, helpers: h } = ctx;
  const job = (total: number) => ({ type: "direct" as const, method: "GET", template: endpoint(ctx).url, data: [DATA_OBJECT], total, concurrency: o.concurrency });
  const warm = Math.min(o.requests * o.perRequest, 2000);
  await runPhase(h, { label: "direct baseline: warm-up", expect: warm, job: job(warm), progressFrom: "receiver", watch: [] });
  const total = o.requests * o.perRequest;
  const meter = cpuMeter(cpuGroups(ctx, []));
  const { received, load } = await runPhase(h, { label: "direct baseline", expect: total, job: job(total), progressFrom: "receiver", watch: [] });
  const e2e = endToEnd(total, load!.t0, received!.lastAt);
  return { ...e2e, latency_ms: load!.latencyMs, cpu: cpuPer1000(meter.stop(), total, e2e.seconds), timeline: received!.timeline };
}

/** The settings of one backend's Ferry processes; each call: a fresh data dir, key prefix and database. */
export async function backendSettings(ctx: Context, name: BackendName): Promise<{ settings: Record<string, string>; database?: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-bench-"));
  ctx.dirs.push(dir);
  const base = { FERRY_DATA_DIR: dir, FERRY_ADMIN_TOKEN: TOKEN };
  if (name === "embedded") return { settings: base };
  const s = ctx.services!;
  const db = await s.database();
  return {
    settings: {
      ...base,
      FERRY_REDIS_URL: s.redis.url,
      FERRY_REDIS_PREFIX: `bench${ctx.dirs.length}`,
      FERRY_DATABASE_URL: db.url,
      FERRY_MIGRATE_ON_START: "true",
    },
    database: db.name,
  };
}

/** The processes whose CPU time a phase reports. */
export function cpuGroups(ctx: Context, procs: FerryProcess[], database?: string): Group[] {
  const groups: Group[] = procs.map((p) => ({ name: `ferry ${p.role}`, pids: () => [p.pid] }));
  groups.push({ name: "receiver", pids: () => [ctx.helpers.receiver.child.pid!] });
  groups.push({ name: "load generator", pids: () => [ctx.helpers.load.child.pid!] });
  if (database && ctx.services) {
    groups.push({ name: "redis-server", pids: () => [ctx.services!.redisPid] });
    groups.push({ name: "postgres", pids: () => postgresBackends(database) });
  }
  return groups;
}

/** CPU ms per 1,000 postbacks by process, their total, and the cores busy on average. */
export function cpuPer1000(used: Record<string, number>, postbacks: number, seconds: number): CpuUse {
  const per: Record<string, number> = {};
  let total = 0;
  for (const [k, ms] of Object.entries(used)) {
    per[k] = round((ms / postbacks) * 1000, 1);
    total += ms;
  }
  return { ms_per_1000_postbacks: per, total_ms_per_1000_postbacks: round((total / postbacks) * 1000, 1), cores_busy: round(total / 1000 / seconds, 2) };
}

/**
 * How the throughput scenario's postbacks go in: `inline`, POST /ingest with the endpoint in each
 * request (the seed's way); `destinations` (the throughput-destinations scenario), an account
 * with one destination at the receiver, made through the API as a user would (so with the
 * signing secret every destination gets), and POST /v1/push with the account's token: the same
 * 10 data objects per request fan out to it through the destination cache, pacing gate, pause
 * check, route and signing.
 */
export type Via = "inline" | "destinations";

export async function backend(ctx: Context, name: BackendName, directRate: number, via: Via = "inline"): Promise<BackendResult> {
  const { options: o, helpers: h } = ctx;
  const { settings, database } = await backendSettings(ctx, name);
  const procs: FerryProcess[] =
    name === "embedded" ? [await start(ctx, "start", settings)] : [await start(ctx, "api", settings)];
  if (name !== "embedded") procs.push(await start(ctx, "worker", settings));
  const api = procs[0]!;
  let url = `${api.url}/ingest`;
  let body = ingestBody(ctx);
  let token = TOKEN;
  if (via === "destinations") {
    const account = await createAccount(api.url!, "bench", { url: ctx.receiverUrl + TEMPLATE_PATH, method: "GET" });
    url = `${api.url}/v1/push`;
    body = JSON.stringify(Array.from({ length: o.perRequest }, () => DATA_OBJECT));
    token = account.token;
  }
  const tag = via === "destinations" ? `${name} via a destination` : name;
  const postbacks = o.requests * o.perRequest;
  const ingest = (requests: number, ratePerSecond?: number) => ({
    type: "ingest" as const, url, token, body, requests, concurrency: o.concurrency, via: o.loadClient,
    ...(ratePerSecond !== undefined ? { ratePerSecond } : {}),
  });

  // Warm-up: the worker is up and connected once these arrive; JIT and pools warm for both sides.
  const warm = Math.max(1, Math.min(200, Math.floor(o.requests / 10)));
  await runPhase(h, { label: `${tag}: warm-up`, expect: warm * o.perRequest, job: ingest(warm), progressFrom: "receiver", watch: procs });

  // Redis traffic only where Ferry uses Redis (the server runs for the whole bench).
  const redis = name === "embedded" ? undefined : ctx.services;
  const before = await redis?.netBytes();
  const meter = cpuMeter(cpuGroups(ctx, procs, database));
  const closed = await runPhase(h, { label: `${tag}: closed loop`, expect: postbacks, job: ingest(o.requests), progressFrom: "receiver", watch: procs });
  const cpu = meter.stop();
  const after = await redis?.netBytes();
  const e2e = endToEnd(postbacks, closed.load!.t0, closed.received!.lastAt);

  let half: BackendResult["half_rate"] = null;
  if (o.halfRate) {
    const offered = e2e.postbacks_per_s / 2;
    const rate = offered / o.perRequest;
    const r = await runPhase(h, { label: `${tag}: half rate (${Math.round(offered)} postbacks/s)`, expect: postbacks, job: ingest(o.requests, rate), progressFrom: "receiver", watch: procs });
    half = {
      offered_requests_per_s: round(rate, 1),
      offered_postbacks_per_s: Math.round(offered),
      end_to_end: endToEnd(postbacks, r.load!.t0, r.received!.lastAt),
      ingest_latency_ms: r.load!.latencyMs,
      delivery_latency_ms: r.received!.latencyMs,
    };
  }

  const peak: Record<string, number | null> = {};
  for (const p of procs) peak[`ferry ${p.role}`] = await stop(ctx, p);
  const dataBytes = Buffer.byteLength(JSON.stringify(DATA_OBJECT));
  const result: BackendResult = {
    name,
    processes: procs.map((p) => `ferry ${p.role}`),
    end_to_end: { ...e2e, ratio_to_direct: round(e2e.postbacks_per_s / directRate, 3) },
    ingest_requests_per_s: Math.round(o.requests / ((closed.load!.t1 - closed.load!.t0) / 1000)),
    ingest_latency_ms: closed.load!.latencyMs,
    delivery_latency_ms: closed.received!.latencyMs,
    cpu: cpuPer1000(cpu, postbacks, e2e.seconds),
    timeline: closed.received!.timeline,
    half_rate: half,
    redis:
      before && after
        ? {
            bytes_per_postback: Math.round((after.input - before.input + after.output - before.output) / postbacks),
            input_bytes_per_postback: Math.round((after.input - before.input) / postbacks),
            output_bytes_per_postback: Math.round((after.output - before.output) / postbacks),
            data_object_bytes: dataBytes,
          }
        : null,
    peak_rss_mib: peak,
    backlog: null,
  };
  if (o.backlog > 0 && via === "inline") result.backlog = await backlog(ctx, name, e2e.postbacks_per_s);
  return result;
}

/**
 * Queue `options.backlog` postbacks with no worker running (`ferry api` alone), then start the
 * worker — `ferry start` for embedded (the API stopped first: the same one process as the
 * empty-queue run), `ferry worker` next to the API for redis-postgres — and time the drain.
 */
async function backlog(ctx: Context, name: BackendName, emptyRate: number): Promise<NonNullable<BackendResult["backlog"]>> {
  const { options: o, helpers: h } = ctx;
  const { settings, database } = await backendSettings(ctx, name);
  const requests = Math.ceil(o.backlog / o.perRequest);
  const postbacks = requests * o.perRequest;
  const api = await start(ctx, "api", settings);
  const job = { type: "ingest" as const, url: `${api.url}/ingest`, token: TOKEN, body: ingestBody(ctx), requests, concurrency: o.concurrency, via: o.loadClient };
  const redis = name === "embedded" ? undefined : ctx.services;
  const before = await redis?.netBytes();
  const fill = await runPhase(h, { label: `${name}: backlog fill (no worker)`, job, progressFrom: "load", watch: [api] });
  const usedMemory = redis ? await redis.usedMemory() : null;
  const peak: Record<string, number | null> = {};
  if (name === "embedded") peak["ferry api"] = await stop(ctx, api);
  let startedAt = 0;
  let worker: FerryProcess | undefined;
  const watch = name === "embedded" ? [] : [api];
  let meter: ReturnType<typeof cpuMeter> | undefined;
  const drain = await runPhase(h, {
    label: `${name}: backlog drain`,
    expect: postbacks,
    progressFrom: "receiver",
    begin: async () => {
      startedAt = Date.now();
      worker = await start(ctx, name === "embedded" ? "start" : "worker", settings);
      watch.push(worker);
      meter = cpuMeter(cpuGroups(ctx, watch, database));
    },
    watch,
  });
  const cpu = meter!.stop();
  const after = await redis?.netBytes();
  peak[`ferry ${worker!.role}`] = await stop(ctx, worker!);
  if (name !== "embedded") peak["ferry api"] = await stop(ctx, api);
  const r = drain.received!;
  const seconds = (r.lastAt - r.firstAt) / 1000;
  const drainRate = Math.round(postbacks / seconds);
  const fillSeconds = (fill.load!.t1 - fill.load!.t0) / 1000;
  return {
    postbacks,
    fill: { seconds: round(fillSeconds, 3), postbacks_per_s: Math.round(postbacks / fillSeconds), ingest_latency_ms: fill.load!.latencyMs },
    drain: { seconds: round(seconds, 3), postbacks_per_s: drainRate, ratio_to_empty_queue: round(drainRate / emptyRate, 3), seconds_from_worker_start: round((r.lastAt - startedAt) / 1000, 3) },
    worker: `ferry ${worker!.role}`,
    // From the worker's start: its start-up CPU is in the figures too.
    cpu: cpuPer1000(cpu, postbacks, (r.lastAt - startedAt) / 1000),
    peak_rss_mib: peak,
    redis_used_memory_mib: usedMemory === null ? null : round(usedMemory / 2 ** 20, 1),
    redis_bytes_per_postback: before && after ? Math.round((after.input - before.input + after.output - before.output) / postbacks) : null,
  };
}

export function cleanupDirs(ctx: Context): void {
  for (const d of ctx.dirs) rmSync(d, { recursive: true, force: true });
}
