/** GET /v1/postbacks/:id — a postback's state and every attempt made, queued or settled. */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";
import { findPostback, postbackState, type FoundPostback } from "../app/postbacks.js";
import type { Ports } from "../app/ports.js";
import { iso, ownAccount } from "./common.js";
import { getPostbackSchema } from "./schemas/postbacks.js";

export function postbackView(p: FoundPostback): Record<string, unknown> {
  const { endpoint, record, queued } = p;
  return {
    id: p.id,
    state: postbackState(p),
    endpoint: {
      method: endpoint.method,
      url: endpoint.url,
      default: endpoint.defaultValue,
      max_attempts: endpoint.maxAttempts,
      ...(endpoint.destinationId ? { destination_id: endpoint.destinationId } : {}),
    },
    data: JSON.parse(p.data),
    created_at: iso(p.createdAt),
    updated_at: iso(record?.updatedAt ?? null),
    next_attempt_at: queued && !queued.held ? iso(queued.dueAt) : null,
    reason: record?.reason ?? null,
    attempts: (record?.attempts ?? []).map((a) => ({
      attempt: a.attempt,
      started_at: iso(a.startedAt),
      duration_ms: a.durationMs,
      url: a.url,
      status_code: a.statusCode,
      error: a.error,
      error_message: a.errorMessage,
      response_body: a.responseBody,
    })),
  };
}

export function postbackRoutes(app: FastifyInstance, ports: Ports): void {
  app.get<{ Params: { id: string } }>("/v1/postbacks/:id", { schema: getPostbackSchema }, async (request) => {
    const { id } = request.params;
    // An account sees only its own postbacks; another's is as unknown as one never made.
    const found = await findPostback(ports, id, ownAccount(request));
    if (!found) throw new ApiError("postback_not_found", `No postback ${JSON.stringify(id)}. Ids are those the ingest answer listed.`);
    return postbackView(found);
  });
}
