/**
 * The delivery log's routes (issue 11), read by the dashboard:
 * GET /v1/postbacks (search, newest first), GET /v1/destinations/{id}/stats and GET /v1/stats
 * (roll-ups per time bucket). Bad filter values are 422 invalid_query naming the parameter.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import { HOUR_MS } from "../core/delivery-log.js";
import type { Ports } from "../app/ports.js";
import { findDestination } from "../app/destinations.js";
import {
  BUCKET_MS,
  bucketCount,
  destinationStats,
  LOG_STATES,
  MAX_BUCKETS,
  overallStats,
  searchLog,
  type Bucket,
  type LogItem,
  type LogState,
  type Stats,
  type StatsRange,
} from "../app/delivery-log.js";
import { accessibleAccount, iso, ownAccount, parsePage, queryString } from "./common.js";
import { searchPostbacksSchema, destinationStatsSchema, statsSchema } from "./schemas/postbacks.js";

function invalid(field: string, detail: string): ApiError {
  return new ApiError("invalid_query", detail, { field });
}

/** An ISO 8601 time (a date, or a date and time with a zone or none, read as UTC) as ms. */
function timeParam(query: unknown, name: string): number | undefined {
  const raw = queryString(query, name);
  if (raw === undefined) return undefined;
  const ms = /^\d{4}-\d\d-\d\d([Tt ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]\d\d:?\d\d)?)?$/.test(raw)
    ? Date.parse(/[Zz]|[+-]\d\d:?\d\d$/.test(raw.slice(10)) || raw.length === 10 ? raw : raw + "Z")
    : NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    throw invalid(name, `${name} must be an ISO 8601 time such as "2026-11-23T10:00:00Z"; got ${JSON.stringify(raw.slice(0, 100))}.`);
  }
  return ms;
}

/** The account a listing is limited to: an account token's own; the admin's choice or none. */
async function scopeAccount(request: FastifyRequest, ports: Ports): Promise<string | undefined> {
  const given = queryString(request.query, "account_id");
  if (given === undefined) return ownAccount(request);
  return (await accessibleAccount(request, ports.stores.accounts, given)).id;
}

function statsRange(query: unknown): StatsRange {
  const bucketRaw = queryString(query, "bucket") ?? "hour";
  if (bucketRaw !== "minute" && bucketRaw !== "hour") throw invalid("bucket", `bucket must be minute or hour; got ${JSON.stringify(bucketRaw.slice(0, 100))}.`);
  const bucket: Bucket = bucketRaw;
  const until = timeParam(query, "until") ?? Date.now();
  const since = timeParam(query, "since") ?? until - 24 * HOUR_MS;
  if (until <= since) throw invalid("until", "until must be later than since.");
  const range = { since, until, bucket };
  const n = bucketCount(range);
  if (n > MAX_BUCKETS) {
    throw invalid("since", `since to until makes ${n} ${bucket} buckets; at most ${MAX_BUCKETS} (${Math.floor((MAX_BUCKETS * BUCKET_MS[bucket]) / HOUR_MS)} hours of ${bucket}s). Narrow the range or use bucket=hour.`);
  }
  return range;
}

function statsView(s: Stats): Record<string, unknown> {
  return {
    buckets: s.buckets.map((b) => ({ start: iso(b.start), delivered: b.delivered, retry: b.retry, dead: b.dead, cancelled: b.cancelled, held: b.held })),
    latency_ms: s.latency,
  };
}

function itemView(p: LogItem): Record<string, unknown> {
  return {
    id: p.id,
    state: p.state,
    account_id: p.accountId,
    destination_id: p.destinationId,
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
    attempts: p.attempts,
    last_attempt: p.lastAttempt && {
      at: iso(p.lastAttempt.at),
      status_code: p.lastAttempt.statusCode,
      error: p.lastAttempt.error,
      duration_ms: p.lastAttempt.durationMs,
      url: p.lastAttempt.url,
    },
  };
}

export function deliveryLogRoutes(app: FastifyInstance, ports: Ports): void {
  app.get("/v1/postbacks", { schema: searchPostbacksSchema }, async (request) => {
    const query = request.query;
    const page = parsePage(query);
    const stateRaw = queryString(query, "state");
    if (stateRaw !== undefined && !LOG_STATES.includes(stateRaw as LogState)) {
      throw invalid("state", `state must be one of ${LOG_STATES.join(", ")}; got ${JSON.stringify(stateRaw.slice(0, 100))}.`);
    }
    const statusRaw = queryString(query, "status_code");
    if (statusRaw !== undefined && (!/^\d{3}$/.test(statusRaw) || Number(statusRaw) < 100 || Number(statusRaw) > 599)) {
      throw invalid("status_code", `status_code must be an HTTP status from 100 to 599; got ${JSON.stringify(statusRaw.slice(0, 100))}.`);
    }
    const q = queryString(query, "q");
    if (q !== undefined && (q.length > 200 || q.includes("\u0000"))) throw invalid("q", "q must be at most 200 characters, with no NUL.");
    const since = timeParam(query, "since");
    const until = timeParam(query, "until");
    if (since !== undefined && until !== undefined && until <= since) throw invalid("until", "until must be later than since.");
    const destinationRaw = queryString(query, "destination_id");
    const accountId = await scopeAccount(request, ports);
    let destinationId: string | undefined;
    if (destinationRaw !== undefined) {
      // Another account's destination is as unknown as one never made.
      const destination = await findDestination(ports, destinationRaw, accountId);
      destinationId = destination.id;
    }
    const result = await searchLog(ports, {
      accountId,
      destinationId,
      state: stateRaw as LogState | undefined,
      since,
      until,
      statusCode: statusRaw === undefined ? undefined : Number(statusRaw),
      q,
      after: page.after,
      limit: page.limit,
    });
    return { data: result.items.map(itemView), next_after: result.next };
  });

  app.get<{ Params: { id: string } }>("/v1/destinations/:id/stats", { schema: destinationStatsSchema }, async (request) => {
    const destination = await findDestination(ports, request.params.id, ownAccount(request));
    const range = statsRange(request.query);
    const s = await destinationStats(ports, destination, range);
    return {
      destination_id: destination.id,
      enabled: destination.enabled,
      disabled_reason: destination.disabledReason,
      queue_depth: s.queueDepth,
      last_error: s.lastError && { at: iso(s.lastError.at), status_code: s.lastError.statusCode, error: s.lastError.error },
      ...statsView(s),
    };
  });

  app.get("/v1/stats", { schema: statsSchema }, async (request) => {
    const accountId = await scopeAccount(request, ports);
    const range = statsRange(request.query);
    const s = await overallStats(ports, accountId, range);
    return { ...statsView(s), queue: { ready: s.queue.ready, waiting: s.queue.waiting } };
  });
}
