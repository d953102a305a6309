/**
 * One process's Prometheus registry: every metric named ferry_…, labelled with the process's
 * role (api, worker, start). It holds the process metrics (CPU, memory, event-loop lag, from
 * prom-client's defaults), the queue and store gauges read on each scrape, and, as the role
 * needs them, the API's metrics (src/api/metrics.ts) and the worker's (src/delivery/metrics.ts).
 *
 * In `ferry start` the worker counts in its own thread; `addSource` appends the thread's text to
 * each scrape (its metric names are the worker's alone, so the two texts never repeat a family).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";
import { ApiMetrics } from "../api/metrics.js";
import { DeliveryMetrics } from "../delivery/metrics.js";

export type MetricsRole = "api" | "worker" | "start";

export class ProcessMetrics {
  readonly registry = new Registry();
  private readonly sources: (() => Promise<string>)[] = [];
  private apiMetrics: ApiMetrics | undefined;
  private deliveryMetrics: DeliveryMetrics | undefined;

  constructor(
    role: MetricsRole,
    private readonly options: { queue: Queue; stores: Stores; maxDestinations: number; processMetrics?: boolean },
  ) {
    this.registry.setDefaultLabels({ role });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "ferry_" });
    this.backendGauges();
  }

  /** The API's metrics, registered here on first use; its /metrics answers `render`. */
  get api(): ApiMetrics {
    return (this.apiMetrics ??= new ApiMetrics(this.registry, () => this.render()));
  }

  /** The worker's metrics, when it runs in this thread, registered here on first use. */
  get delivery(): DeliveryMetrics {
    return (this.deliveryMetrics ??= new DeliveryMetrics(this.registry, this.options.maxDestinations));
  }

  /** More Prometheus text for every scrape (the delivery thread's); it must not repeat our names. */
  addSource(source: () => Promise<string>): void {
    this.sources.push(source);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    const parts = await Promise.all([this.registry.metrics(), ...this.sources.map((s) => s())]);
    return parts.map((p) => (p === "" || p.endsWith("\n") ? p : p + "\n")).join("");
  }

  /**
   * Queue depth, the age of the oldest due postback and disabled destinations: read from the
   * queue and store when scraped (an index lookup or two), never kept up to date per postback.
   * When a backend cannot be read the gauge keeps its last value and the error is counted, so a
   * scrape still answers while Redis or Postgres is down.
   */
  private backendGauges(): void {
    const { queue, stores } = this.options;
    const registers = [this.registry];
    const errors = new Counter({
      name: "ferry_metrics_read_errors_total",
      help: "Scrapes that could not read a gauge from the queue or the store (which is then left at its last value).",
      labelNames: ["backend"],
      registers,
    });
    const guarded = async (backend: "queue" | "store", read: () => Promise<void>) => {
      try {
        await read();
      } catch {
        errors.labels(backend).inc();
      }
    };
    new Gauge({
      name: "ferry_queue_depth",
      help: "Postbacks in the queue: ready (due now) or waiting (a retry, a release, or leased to a worker). Held ones are not counted.",
      labelNames: ["state"],
      registers,
      async collect() {
        await guarded("queue", async () => {
          const { ready, waiting } = await queue.stats();
          this.labels("ready").set(ready);
          this.labels("waiting").set(waiting);
        });
      },
    });
    new Gauge({
      name: "ferry_queue_oldest_due_age_seconds",
      help: "How long the postback due longest has been waiting to be sent; 0 when none is due. Grows when workers fall behind or are down.",
      registers,
      async collect() {
        await guarded("queue", async () => {
          const now = Date.now();
          const due = await queue.oldestDueAt(now);
          this.set(due === null ? 0 : Math.max(0, now - due) / 1000);
        });
      },
    });
    new Gauge({
      name: "ferry_destinations_disabled",
      help: "Destinations disabled now, of all accounts (by endpoint health or their owner); their postbacks are held.",
      registers,
      async collect() {
        await guarded("store", async () => this.set(await stores.accounts.countDisabledDestinations()));
      },
    });
  }
}
