/**
 * The API's Prometheus metrics: request latency by route and status class, postbacks ingested by
 * the way they came in, events received. Route labels are fastify's route templates
 * (`/v1/postbacks/:id`), never the URL asked for, so ids never become label values.
 *
 * `render` is what GET /metrics answers: this registry's text, and in `ferry start` the delivery
 * thread's appended (src/metrics/registry.ts).
 */
import { Counter, Histogram, Registry } from "prom-client";

/** Seconds; most answers take a millisecond or two, an ingest with a slow store more. */
const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type IngestRoute = "ingest" | "push" | "fanout" | "compat" | "broadcast";

export class ApiMetrics {
  readonly contentType: string;
  readonly render: () => Promise<string>;
  private readonly requests: Histogram<"method" | "route" | "status">;
  private readonly ingestedTotal: Counter<"route">;
  private readonly eventsTotal: Counter<"result">;

  constructor(registry: Registry = new Registry(), render?: () => Promise<string>) {
    const registers = [registry];
    this.contentType = registry.contentType;
    this.render = render ?? (() => registry.metrics());
    this.requests = new Histogram({
      name: "ferry_http_request_duration_seconds",
      help: "Time to answer an API request, by method, route template and status class (2xx, 4xx, ...).",
      labelNames: ["method", "route", "status"],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.ingestedTotal = new Counter({
      name: "ferry_postbacks_ingested_total",
      help: "Postbacks queued, by how they came in: ingest (/ingest, /ingest.php), push (/v1/push, /server/incoming_data), fanout (stored events to their destinations), compat (the seed systems' own routes, FERRY_COMPAT), broadcast (/v1/broadcast, to every subscribed account).",
      labelNames: ["route"],
      registers,
    });
    this.eventsTotal = new Counter({
      name: "ferry_events_received_total",
      help: "Events received by POST /v1/events: stored, or refused (invalid).",
      labelNames: ["result"],
      registers,
    });
    // Zero series from the start, so a rate() over them works before the first one.
    for (const route of ["ingest", "push", "fanout", "compat", "broadcast"]) this.ingestedTotal.labels(route).inc(0);
    for (const result of ["stored", "refused"]) this.eventsTotal.labels(result).inc(0);
  }

  /** One answered request; `route` is undefined when no route matched (a 404 or 405). */
  request(method: string, route: string | undefined, status: number, ms: number): void {
    this.requests.labels(method, route ?? "unmatched", `${Math.floor(status / 100)}xx`).observe(ms / 1000);
  }

  ingested(route: IngestRoute, postbacks: number): void {
    if (postbacks > 0) this.ingestedTotal.labels(route).inc(postbacks);
  }

  events(stored: number, refused: number): void {
    if (stored > 0) this.eventsTotal.labels("stored").inc(stored);
    if (refused > 0) this.eventsTotal.labels("refused").inc(refused);
  }
}
