/**
 * Admin-only routes for watching a running process: GET /metrics (Prometheus text),
 * POST /v1/admin/profile?seconds=N (a CPU profile) and POST /v1/admin/heap-snapshot, both
 * written under `<data_dir>/profiles/` and answered with the file's path once it is written.
 * docs/operations.md says how to scrape and how to read the files.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";
import { MAX_PROFILE_SECONDS, ProfilerBusyError, endProfileEarly, type Profiler } from "../app/profiling.js";
import { requireAdmin } from "./auth.js";
import { queryString } from "./common.js";
import type { ApiMetrics } from "./metrics.js";
import { metricsSchema, profileSchema, heapSnapshotSchema } from "./schemas/admin.js";

export interface AdminDeps {
  metrics: ApiMetrics;
  profiler: Profiler;
}

const DEFAULT_PROFILE_SECONDS = 10;

export function adminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  // Closing waits for requests in progress: a profile request ends (and is answered) at once.
  app.addHook("preClose", (done) => {
    endProfileEarly();
    done();
  });

  app.get("/metrics", { schema: metricsSchema }, async (request, reply) => {
    requireAdmin(request, "read the metrics (or scrape FERRY_METRICS_PORT, which needs no token)");
    reply.type(deps.metrics.contentType);
    return deps.metrics.render();
  });

  app.post("/v1/admin/profile", { schema: profileSchema }, async (request) => {
    requireAdmin(request, "profile the process");
    const seconds = profileSeconds(queryString(request.query, "seconds"));
    const path = await busyAsConflict(() => deps.profiler.cpu(seconds));
    return { path, seconds };
  });

  app.post("/v1/admin/heap-snapshot", { schema: heapSnapshotSchema }, async (request) => {
    requireAdmin(request, "take a heap snapshot");
    return { path: await busyAsConflict(() => deps.profiler.heapSnapshot()) };
  });
}

function profileSeconds(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PROFILE_SECONDS;
  const seconds = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_PROFILE_SECONDS)) {
    throw new ApiError("invalid_query", `seconds must be a whole number from 1 to ${MAX_PROFILE_SECONDS}; got ${JSON.stringify(raw.slice(0, 20))}.`, { field: "seconds" });
  }
  return seconds;
}

async function busyAsConflict<T>(take: () => Promise<T>): Promise<T> {
  try {
    return await take();
  } catch (err) {
    if (!(err instanceof ProfilerBusyError)) throw err;
    throw new ApiError("profile_running", `A ${err.running} of this process is being taken already; ask again once it is written.`, { headers: { "retry-after": "5" } });
  }
}
