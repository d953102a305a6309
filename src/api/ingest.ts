/**
 * POST /ingest (and /ingest.php, where the PHP ingest script Ferry replaces took them): one
 * postback per data object.
 * The answer, 202 {"ids":[...]}, is sent only once every postback is durably queued.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { EnqueueBatch } from "../queue/port.js";
import { ApiError } from "../core/errors.js";
import { QueueUnavailableError } from "../core/port-errors.js";
import type { Ports } from "../app/ports.js";
import { ingest } from "../app/ingest.js";
import { MaybeQueuedError } from "../app/maybe-queued.js";
import { maybeQueued } from "./idempotency.js";
import { endpointId, newPostbackId } from "../core/ids.js";
import { checkHttpUrl, hasFixedOrigin, renderTemplate } from "../core/template.js";
import type { Endpoint } from "../core/types.js";
import { queueUnavailable } from "./common.js";
import { checkUrlTemplate, NUL, parseMethod } from "./validate.js";
import { ingestSchema } from "./schemas/ingest.js";

type Limits = Pick<Config, "max_batch" | "default_value" | "max_attempts">;

/**
 * Checks an ingest body and turns it into a queue batch; throws ApiError naming the field at
 * fault. `accountId`: the account that sent it (an account token), kept on the endpoint.
 */
export function parseIngest(body: unknown, limits: Limits, now: number = Date.now(), accountId?: string): EnqueueBatch {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError("invalid_body", 'Send a JSON object: {"endpoint":{"method":"GET","url":"..."},"data":[{...}]}.');
  }
  const { endpoint, data } = body as Record<string, unknown>;
  if (endpoint === undefined || endpoint === null || typeof endpoint !== "object" || Array.isArray(endpoint)) {
    throw new ApiError("missing_endpoint", 'Add "endpoint": {"method": "GET", "url": "http://partner/path?x={key}"}.', { field: "endpoint" });
  }
  const e = endpoint as Record<string, unknown>;
  const method = parseMethod(e["method"], "endpoint.method", "GET");
  const template = checkUrlTemplate(e["url"], "endpoint.url");
  let defaultValue = limits.default_value;
  const rawDefault = e["default"];
  if (rawDefault !== undefined && rawDefault !== null) {
    // A NUL cannot be stored in Postgres (see NUL in validate.ts).
    if (typeof rawDefault === "string" && rawDefault.includes(NUL)) {
      throw new ApiError("invalid_default", "endpoint.default holds a NUL character (\\u0000); leave it out.", { field: "endpoint.default" });
    }
    if (typeof rawDefault === "string") defaultValue = rawDefault;
    else if (typeof rawDefault === "number" || typeof rawDefault === "boolean") defaultValue = String(rawDefault);
    else throw new ApiError("invalid_default", "endpoint.default must be a string (or a number or boolean).", { field: "endpoint.default" });
  }
  let maxAttempts = limits.max_attempts;
  const rawMax = e["max_attempts"];
  if (rawMax !== undefined && rawMax !== null) {
    if (typeof rawMax !== "number" || !Number.isInteger(rawMax) || rawMax < 1 || rawMax > 100) {
      throw new ApiError("invalid_max_attempts", `endpoint.max_attempts must be a whole number from 1 to 100; got ${JSON.stringify(rawMax)}.`, { field: "endpoint.max_attempts" });
    }
    maxAttempts = rawMax;
  }
  if (!Array.isArray(data) || data.length === 0) {
    throw new ApiError("invalid_data", 'data must be a non-empty array of objects, e.g. "data": [{"mascot": "Gopher"}].', { field: "data" });
  }
  if (data.length > limits.max_batch) {
    throw new ApiError("too_many_items", `data has ${data.length} objects; the most in one request is ${limits.max_batch}. Split it into several requests.`, { field: "data" });
  }
  // When scheme and host are fixed, one rendering shows whether every rendering is a URL.
  const fixed = hasFixedOrigin(template);
  const postbacks = new Array<{ id: string; data: string }>(data.length);
  for (let i = 0; i < data.length; i++) {
    const item: unknown = data[i];
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new ApiError("invalid_data", `data[${i}] must be a JSON object; got ${item === null ? "null" : Array.isArray(item) ? "an array" : typeof item}.`, { field: `data[${i}]` });
    }
    if (!fixed || i === 0) {
      const rendered = renderTemplate(template, item as Record<string, unknown>, defaultValue);
      const problem = checkHttpUrl(rendered);
      if (problem) {
        throw new ApiError("invalid_url", `endpoint.url rendered with data[${i}] gives "${rendered.slice(0, 200)}", which ${problem}.`, { field: fixed ? "endpoint.url" : `data[${i}]` });
      }
    }
    postbacks[i] = { id: newPostbackId(now), data: JSON.stringify(item) };
  }
  const content: Omit<Endpoint, "id"> = { method, url: template.source, defaultValue, maxAttempts, ...(accountId ? { accountId } : {}) };
  return {
    endpoint: { id: endpointId(content), ...content },
    postbacks,
    createdAt: now,
  };
}

/** `onEnqueued` is told how many postbacks each request queued. */
export function ingestRoutes(app: FastifyInstance, deps: Pick<Ports, "queue"> & { config: Config; onEnqueued?: ((postbacks: number) => void) | undefined }): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = request.caller;
    const batch = parseIngest(request.body, deps.config, Date.now(), caller.kind === "account" ? caller.accountId : undefined);
    let ids: string[];
    try {
      ids = await ingest(deps, batch);
    } catch (err) {
      if (err instanceof MaybeQueuedError) throw maybeQueued(request, err, 202, { ids: err.result });
      if (!(err instanceof QueueUnavailableError)) throw err;
      throw queueUnavailable(err, "The queue could not store the postbacks; nothing was queued. Send the request again shortly.");
    }
    deps.onEnqueued?.(ids.length);
    reply.code(202);
    return { ids };
  };
  app.post("/ingest", { schema: ingestSchema }, handler);
  app.post("/ingest.php", { schema: ingestSchema }, handler);
}
