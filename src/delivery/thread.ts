/**
 * The delivery worker in a thread of its own, for `ferry start`: the API and the worker each
 * get an event loop (and a core), so a burst of deliveries never stalls ingest, and ingest
 * never stalls delivery. The thread opens its own connections to the queue and store.
 *
 * Messages from the parent: "notify" (an ingest request was queued), { stop: graceMs },
 * { metrics: id } (a scrape of /metrics wants the delivery metrics, counted in this thread).
 * To the parent: "running", { metrics: id, text } (Prometheus text), then { stopped: counts }
 * once everything is recorded and closed.
 */
import { parentPort, workerData } from "node:worker_threads";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Gauge, Registry } from "prom-client";
import type { Config } from "../config.js";
import { openBackends } from "../backends.js";
import { createLogger, flushLogger } from "../log.js";
import { createWorker } from "./create-worker.js";
import { DeliveryMetrics } from "./metrics.js";

export type ToThread = "notify" | { stop: number } | { metrics: number };
export type FromThread = "running" | { metrics: number; text: string } | { stopped: Record<string, number> };

const port = parentPort!;
const config = workerData as Config;
const logger = createLogger(config.log_level);
const backends = await openBackends(config, logger, { delivers: true });
// Only the delivery metrics live here; the process's own (CPU, memory, the API's event loop)
// are the main thread's, which appends this text to its own on each scrape.
const registry = new Registry();
registry.setDefaultLabels({ role: "start" });
const metrics = new DeliveryMetrics(registry, config.metrics_max_destinations);
// The process metrics' event-loop lag is the main thread's; this thread's loop is measured here.
// Each sample is the time a 10 ms timer took, so 10 ms is taken off to leave the lag.
const LOOP_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelay.enable();
const lagSeconds = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1000;
new Gauge({
  name: "ferry_delivery_thread_eventloop_lag_seconds",
  help: "Event-loop lag of the delivery thread of ferry start since the previous scrape, by quantile (0.5, 0.99, 1 = max).",
  labelNames: ["quantile"],
  registers: [registry],
  collect() {
    for (const q of [50, 99]) this.labels(String(q / 100)).set(lagSeconds(loopDelay.percentile(q)));
    this.labels("1").set(lagSeconds(loopDelay.max));
    loopDelay.reset();
  },
});
const worker = createWorker(config, backends, logger, metrics);
metrics.watch(worker);
worker.start();

port.on("message", (message: ToThread) => {
  if (message === "notify") {
    backends.queue.notify();
    return;
  }
  if ("metrics" in message) {
    const id = message.metrics;
    void registry.metrics().then((text) => port.postMessage({ metrics: id, text } satisfies FromThread));
    return;
  }
  void (async () => {
    await worker.stop(message.stop);
    await backends.close();
    logger.info({ role: "worker", ...worker.counts }, "worker stopped");
    flushLogger(logger);
    port.postMessage({ stopped: { ...worker.counts } } satisfies FromThread);
    port.close();
  })();
});
port.postMessage("running" satisfies FromThread);
