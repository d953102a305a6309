/**
 * Test harness: real SQLite files in temp dirs, a real API (inject or listen), a real worker
 * and a real HTTP receiver. Nothing is mocked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import type { FastifyInstance } from "fastify";
import { loadConfig, type Config } from "../../src/config.js";
import { openBackends, type Backends } from "../../src/backends.js";
import { buildApp } from "../../src/api/app.js";
import { hashToken } from "../../src/api/auth.js";
import { createWorker } from "../../src/delivery/create-worker.js";
import type { Worker } from "../../src/delivery/worker.js";
import { ProcessMetrics } from "../../src/metrics/registry.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** A temp dir removed by `cleanup`. */
export function tempDir(prefix = "ferry-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A config as the service would load it, with no environment but these settings. Private
 * destinations are allowed: the tests' receivers listen on 127.0.0.1. No name but localhost
 * is resolved: a test that would reach outside this machine fails instead.
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig({}, { admin_token: ADMIN_TOKEN, log_level: "silent", allow_private_destinations: true, test_only_local_dns: true, ...overrides });
}

export function silentLogger(): Logger {
  return pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
}

export interface Pipeline {
  config: Config;
  backends: Backends;
  app: FastifyInstance;
  worker: Worker | undefined;
  /** What GET /metrics shows: the API's and the worker's, as in `ferry start`. */
  metrics: ProcessMetrics;
  /** Ingests through the API (inject) and returns the status and parsed body. */
  ingest(body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  startWorker(): Worker;
  stop(): Promise<void>;
}

/**
 * The API and (unless `worker: false`) a worker on one SQLite file in a temp dir, as
 * `ferry start` runs them. Short retry delays by default so retry tests run fast.
 */
export async function startPipeline(overrides: Partial<Config> = {}, options: { worker?: boolean } = {}): Promise<Pipeline> {
  const dir = tempDir();
  const config = testConfig({ data_dir: dir.path, retry_base_ms: 20, retry_max_delay_ms: 200, poll_interval_ms: 10, ...overrides });
  const logger = silentLogger();
  const backends = await openBackends(config, undefined, { delivers: options.worker !== false });
  // No process metrics: a test file starts many pipelines, and each would add its own collectors.
  const metrics = new ProcessMetrics("start", { queue: backends.queue, stores: backends.stores, maxDestinations: config.metrics_max_destinations, processMetrics: false });
  const app = await buildApp({ config, queue: backends.queue, stores: backends.stores, adminTokenHash: hashToken(ADMIN_TOKEN), logger, metrics: metrics.api });
  const pipeline: Pipeline = {
    config,
    backends,
    app,
    worker: undefined,
    metrics,
    async ingest(body, headers = {}) {
      const res = await app.inject({
        method: "POST",
        url: "/ingest",
        headers: { "content-type": "application/json", ...AUTH, ...headers },
        payload: typeof body === "string" ? body : JSON.stringify(body),
      });
      return { status: res.statusCode, body: res.json() };
    },
    startWorker() {
      const worker = createWorker(config, backends, logger, metrics.delivery);
      metrics.delivery.watch(worker);
      worker.start();
      pipeline.worker = worker;
      return worker;
    },
    async stop() {
      await app.close();
      await pipeline.worker?.stop(0);
      await backends.close();
      dir.cleanup();
    },
  };
  if (options.worker !== false) pipeline.startWorker();
  return pipeline;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the pipeline's queue holds nothing that could still be sent: every entry queued so
 * far was reserved, sent and settled (an entry in flight is leased, so it counts as waiting; held
 * ones are parked and not counted). Settling follows the answer, and the receiver records a
 * request before answering, so whatever the worker was going to send has arrived by now. A check
 * that something did not arrive is made after this, never after a fixed pause that a loaded
 * machine could outlast.
 */
export async function drained(p: Pipeline): Promise<void> {
  await eventually(
    async () => {
      const { ready, waiting } = await p.backends.queue.stats();
      return ready === 0 && waiting === 0;
    },
    10_000,
    "the queue to hold nothing ready or waiting",
  );
}
