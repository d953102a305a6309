/** Admin-only routes for watching a running process (docs/operations.md). */
import { ERRORS } from "./common.js";

const tags = ["admin"] as const;

export const metricsSchema = {
  tags,
  summary: "Prometheus metrics (admin; or scrape FERRY_METRICS_PORT, no token)",
  response: {
    200: { description: "The Prometheus text format.", content: { "text/plain": { schema: { type: "string" } } } },
    ...ERRORS,
  },
} as const;

export const profileSchema = {
  tags,
  summary: "Take a CPU profile of this process",
  description: "Written under <data_dir>/profiles/; answered once written. 409 profile_running while another is taken.",
  querystring: { type: "object", properties: { seconds: { type: "integer", minimum: 1, maximum: 120, default: 10 } } },
  response: {
    200: { type: "object", required: ["path", "seconds"], properties: { path: { type: "string" }, seconds: { type: "integer" } } },
    ...ERRORS,
  },
} as const;

export const heapSnapshotSchema = {
  tags,
  summary: "Take a heap snapshot of this process",
  response: { 200: { type: "object", required: ["path"], properties: { path: { type: "string" } } }, ...ERRORS },
} as const;
