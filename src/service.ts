/**
 * Runs Ferry in one of its roles — start (API + worker), api, worker — with safe shutdown:
 * on SIGTERM or SIGINT stop taking requests, let deliveries in flight finish or go back to the
 * queue, record what finished, close the store, and exit within a bounded time.
 */
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { openBackends, type Backends } from "./backends.js";
import { buildApp } from "./api/app.js";
import { resolveAdminToken } from "./admin-token.js";
import { Sender } from "./delivery/sender.js";
import { Worker } from "./delivery/worker.js";
import { createLogger, flushLogger } from "./log.js";
import { VERSION } from "./version.js";

export type Role = "start" | "api" | "worker";

export interface Running {
  /** The API's address, when this role serves one. */
  url?: string;
  stop(): Promise<void>;
}

export function createWorker(config: Config, backends: Backends, logger: Logger): Worker {
  const sender = new Sender({
    connectionsPerOrigin: config.origin_concurrency,
    responseBodyBytes: config.response_body_bytes,
    proxyUrl: config.proxy_url,
  });
  return new Worker({
    queue: backends.queue,
    store: backends.store,
    sender,
    logger,
    concurrency: config.concurrency,
    originConcurrency: config.origin_concurrency,
    leaseMs: config.lease_ms,
    pollIntervalMs: config.poll_interval_ms,
    timeoutMs: config.timeout_ms,
    retryBaseMs: config.retry_base_ms,
    retryMaxDelayMs: config.retry_max_delay_ms,
    userAgent: `Ferry/${VERSION}`,
  });
}

/** Starts a role; resolves once it is serving. `print` shows a generated admin token once. */
export async function runRole(
  role: Role,
  config: Config,
  options: { logger?: Logger; print?: (line: string) => void } = {},
): Promise<Running> {
  const logger = options.logger ?? createLogger(config.log_level);
  const backends = await openBackends(config);
  let stopApi = async () => {};
  let url: string | undefined;
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
    const app = await buildApp({ config, queue: backends.queue, store: backends.store, adminTokenHash: admin.hash, logger, version: VERSION });
    const address = await app.listen({ port: config.port, host: config.host });
    url = address;
    stopApi = () => app.close();
  }
  let worker: Worker | undefined;
  if (role !== "api") {
    worker = createWorker(config, backends, logger);
    worker.start();
  }
  logger.info({ role, url, backends: backends.describe, version: VERSION }, `ferry ${role} running`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ role }, "shutting down: no new requests; finishing deliveries in flight");
      await stopApi();
      if (worker) {
        await worker.stop(config.shutdown_grace_ms);
        logger.info({ role, ...worker.counts }, "worker stopped");
      }
      await backends.close();
      logger.info({ role }, "stopped");
      flushLogger(logger);
    })());
  return url === undefined ? { stop } : { url, stop };
}
