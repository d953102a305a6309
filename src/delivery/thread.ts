/**
 * The delivery worker in a thread of its own, for `ferry start`: the API and the worker each
 * get an event loop (and a core), so a burst of deliveries never stalls ingest, and ingest
 * never stalls delivery. The thread opens its own connections to the queue and store.
 *
 * Messages from the parent: "notify" (an ingest request was queued), { stop: graceMs }.
 * To the parent: "running", then { stopped: counts } once everything is recorded and closed.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Config } from "../config.js";
import { openBackends } from "../backends.js";
import { createLogger, flushLogger } from "../log.js";
import { createWorker } from "./create-worker.js";

export type ToThread = "notify" | { stop: number };
export type FromThread = "running" | { stopped: Record<string, number> };

const port = parentPort!;
const config = workerData as Config;
const logger = createLogger(config.log_level);
const backends = await openBackends(config, logger);
const worker = createWorker(config, backends, logger);
worker.start();

port.on("message", (message: ToThread) => {
  if (message === "notify") {
    backends.queue.notify();
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
