/**
 * Runs Ferry in one of its roles — start (API + worker), api, worker — with safe shutdown:
 * on SIGTERM or SIGINT stop taking requests, let deliveries in flight finish or go back to the
 * queue, record what finished, close the store, and exit within a bounded time.
 */
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { openBackends } from "./backends.js";
import { assertDataDirWritable } from "./data-dir.js";
import { buildApp } from "./api/app.js";
import { DAY, HOUR } from "./core/time.js";

/** Content hashes are kept this long: the longest duplicate window an account may set. */
const DEDUPE_KEEP_MS = 30 * DAY;
import { resolveAdminToken } from "./admin-token.js";
import { Worker as Thread } from "node:worker_threads";
import type { Worker } from "./delivery/worker.js";
import { createWorker } from "./delivery/create-worker.js";
import type { FromThread, ToThread } from "./delivery/thread.js";
import { createLogger, flushLogger } from "./log.js";
import { VERSION } from "./version.js";
import { ProcessMetrics } from "./metrics/registry.js";
import { startMetricsServer } from "./metrics/http.js";
import { Profiler } from "./app/profiling.js";

export type Role = "start" | "api" | "worker";

export interface Running {
  /** The API's address, when this role serves one. */
  url?: string;
  stop(): Promise<void>;
}

/** Starts a role; resolves once it is serving. `print` shows a generated admin token once. */
export async function runRole(
  role: Role,
  config: Config,
  options: { logger?: Logger; print?: (line: string) => void } = {},
): Promise<Running> {
  const logger = options.logger ?? createLogger(config.log_level);
  // A data dir that cannot be written would fail later, half-started (the SQLite file, or the
  // admin token's hash after the queue is open): find out first.
  assertDataDirWritable(config, role);
  // `ferry start` delivers in its thread, which opens backends of its own.
  const backends = await openBackends(config, logger, { delivers: role === "worker" });
  let stopApi = async () => {};
  let url: string | undefined;
  // `ferry start` delivers in a thread of its own (see delivery/thread.ts); `ferry worker` is
  // nothing but the worker, so it runs on the main thread.
  const thread = role === "start" ? await startWorkerThread(config, logger) : undefined;
  // Each process exposes its own metrics; in `start` the thread's delivery metrics are appended.
  const metrics = new ProcessMetrics(role, { queue: backends.queue, stores: backends.stores, maxDestinations: config.metrics_max_destinations });
  if (thread) metrics.addSource(() => thread.metrics());
  if (role !== "worker") {
    const admin = resolveAdminToken(config);
    if (admin.generated) {
      const print = options.print ?? ((line: string) => process.stdout.write(line + "\n"));
      print(
        [
          "",
          "  A new admin token was generated. It is shown this once; Ferry keeps only its hash",
          `  (in ${config.data_dir}/admin-token.sha256). Set FERRY_ADMIN_TOKEN to choose your own.`,
          "",
          `    ${admin.generated}`,
          "",
        ].join("\n"),
      );
    }
    const app = await buildApp({
      config,
      queue: backends.queue,
      stores: backends.stores,
      adminTokenHash: admin.hash,
      logger,
      version: VERSION,
      onEnqueued: () => thread?.notify(),
      metrics: metrics.api,
    });
    const address = await app.listen({ port: config.port, host: config.host });
    url = address;
    // Idempotency keys and content hashes are kept for their window, then pruned hourly. The
    // cut-off spares the longest window an account can set (30 days).
    const prune = setInterval(() => {
      const before = Date.now() - Math.max(config.idempotency_ttl_ms, DEDUPE_KEEP_MS);
      backends.stores.dedupe.pruneDedupe(before).catch((err: Error) => logger.warn({ err }, "could not prune idempotency keys and content hashes"));
    }, HOUR).unref();
    stopApi = () => {
      clearInterval(prune);
      return app.close();
    };
  }
  let worker: Worker | undefined;
  let onProfileSignal: (() => void) | undefined;
  if (role === "worker") {
    worker = createWorker(config, backends, logger, metrics.delivery);
    metrics.delivery.watch(worker);
    worker.start();
    // A worker has no HTTP API to ask for a profile: SIGUSR2 takes a 10 s CPU profile instead.
    const profiler = new Profiler(config.data_dir);
    onProfileSignal = () => {
      logger.info("SIGUSR2: taking a 10 s CPU profile");
      profiler.cpu(10).then(
        (path) => logger.info({ path }, "CPU profile written"),
        (err: Error) => logger.warn({ err }, "could not take a CPU profile"),
      );
    };
    process.on("SIGUSR2", onProfileSignal);
  }
  const metricsServer =
    config.metrics_port > 0
      ? await startMetricsServer({ host: config.host, port: config.metrics_port }, metrics, (err) => logger.warn({ err }, "could not collect the metrics"))
      : undefined;
  logger.info({ role, url, metrics: metricsServer?.url, backends: backends.describe, version: VERSION }, `ferry ${role} running`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ role }, "shutting down: no new requests; finishing deliveries in flight");
      await stopApi();
      await metricsServer?.close();
      if (onProfileSignal) process.off("SIGUSR2", onProfileSignal);
      if (worker) {
        await worker.stop(config.shutdown_grace_ms);
        logger.info({ role, ...worker.counts }, "worker stopped");
      }
      await thread?.stop(config.shutdown_grace_ms);
      await backends.close();
      logger.info({ role }, "stopped");
      flushLogger(logger);
    })());
  return url === undefined ? { stop } : { url, stop };
}

interface WorkerThread {
  notify(): void;
  /** The thread's delivery metrics as Prometheus text (its last answer, if it is slow to give one). */
  metrics(): Promise<string>;
  /** Resolves once the thread has recorded everything and closed its connections. */
  stop(graceMs: number): Promise<void>;
}

/** Starts the delivery worker thread; resolves once it runs, rejects if it cannot start. */
async function startWorkerThread(config: Config, logger: Logger): Promise<WorkerThread> {
  const thread = new Thread(new URL("./delivery/thread.js", import.meta.url), { workerData: config });
  let stopped: (() => void) | undefined;
  let stopping = false;
  let exited = false;
  // Not removeAllListeners() once it runs: that drops Worker's own newListener hook, after which
  // a new "message" listener no longer starts the port, and the thread's messages (metrics,
  // "stopped") arrive only when it exits.
  const starting: { error?: (err: Error) => void; exit?: (code: number) => void; message?: (m: FromThread) => void } = {};
  await new Promise<void>((resolve, reject) => {
    starting.error = reject;
    starting.exit = (code) => reject(new Error(`the delivery thread exited with code ${code} while starting`));
    starting.message = (m) => m === "running" && resolve();
    thread.on("error", starting.error).on("exit", starting.exit).on("message", starting.message);
  });
  thread.off("error", starting.error!).off("exit", starting.exit!).off("message", starting.message!);
  // Scrapes waiting for the thread's metrics, by request id.
  const scrapes = new Map<number, (text: string) => void>();
  let scrapeId = 0;
  let lastMetrics = "";
  thread.on("message", (m: FromThread) => {
    if (typeof m !== "object") return;
    if ("stopped" in m) stopped?.();
    if ("metrics" in m) {
      lastMetrics = m.text;
      scrapes.get(m.metrics)?.(m.text);
    }
  });
  thread.on("error", (err) => logger.fatal({ err }, "the delivery thread failed; stopping"));
  thread.on("exit", (code) => {
    exited = true;
    stopped?.();
    if (!stopping) {
      // Nothing delivers any more: stop the whole process so its supervisor restarts it.
      logger.fatal({ code }, "the delivery thread exited; stopping");
      process.exitCode = 1;
      process.kill(process.pid, "SIGTERM");
    }
  });
  return {
    notify: () => thread.postMessage("notify" satisfies ToThread),
    metrics() {
      if (exited || stopping) return Promise.resolve(lastMetrics);
      const id = ++scrapeId;
      return new Promise<string>((resolve) => {
        const done = (text: string) => {
          clearTimeout(timer);
          scrapes.delete(id);
          resolve(text);
        };
        // A thread busy for a second is itself worth seeing; the scrape still answers.
        const timer = setTimeout(() => done(lastMetrics), 1_000);
        scrapes.set(id, done);
        thread.postMessage({ metrics: id } satisfies ToThread);
      });
    },
    async stop(graceMs) {
      stopping = true;
      if (exited) return;
      const done = new Promise<void>((resolve) => (stopped = resolve));
      thread.postMessage({ stop: graceMs } satisfies ToThread);
      // The thread bounds its own stop by graceMs; this is only a backstop for a stuck one.
      const backstop = setTimeout(() => void thread.terminate(), graceMs + 30_000);
      await done;
      clearTimeout(backstop);
    },
  };
}
