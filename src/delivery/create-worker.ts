/**
 * Builds a delivery worker from the config: its sender (pools, proxy, the private-destination
 * guard) and its limits. Apart from service.ts so the delivery thread loads no API code.
 */
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Backends } from "../backends.js";
import { VERSION } from "../version.js";
import { Sender, localOnlyLookup } from "./sender.js";
import { Worker, type DeliveryObserver } from "./worker.js";

/** `observer` counts what the worker does for /metrics (src/delivery/metrics.ts). */
export function createWorker(config: Config, backends: Backends, logger: Logger, observer?: DeliveryObserver): Worker {
  const sender = new Sender({
    connectionsPerOrigin: config.origin_concurrency,
    responseBodyBytes: config.response_body_bytes,
    proxyUrl: config.proxy_url,
    allowPrivate: config.allow_private_destinations,
    allowlist: config.allowlist,
    // Thrown where no caller can catch it, so the process (or thread) fails loudly: a test
    // that resolves an outside name must fail even if it expected the delivery to fail.
    lookup: config.test_only_local_dns ? localOnlyLookup((err) => setImmediate(() => { throw err; })) : undefined,
  });
  return new Worker({
    queue: backends.queue,
    stores: backends.stores,
    finishAndTake: backends.finishAndTake,
    sender,
    limits: backends.limits,
    logger,
    concurrency: config.concurrency,
    originConcurrency: config.origin_concurrency,
    leaseMs: config.lease_ms,
    pollIntervalMs: config.poll_interval_ms,
    timeoutMs: config.timeout_ms,
    retryBaseMs: config.retry_base_ms,
    retryMaxDelayMs: config.retry_max_delay_ms,
    failureThreshold: config.failure_threshold,
    failureWindowMs: config.failure_window_ms,
    userAgent: `Ferry/${VERSION}`,
    ...(observer ? { observer } : {}),
  });
}
