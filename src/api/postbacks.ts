/** GET /v1/postbacks/:id — a postback's state and every attempt made, queued or settled. */
import type { FastifyInstance } from "fastify";
import type { Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { iso, stored } from "./common.js";

export function postbackRoutes(app: FastifyInstance, deps: { queue: Queue; stores: Stores }): void {
  app.get<{ Params: { id: string } }>("/v1/postbacks/:id", async (request) => {
    const { id } = request.params;
    const [record, queued] = await stored(Promise.all([deps.stores.postbacks.getPostback(id), deps.queue.find(id)]));
    const caller = request.caller;
    // An account sees only its own postbacks; another's is as unknown as one never made.
    const owner = (record ?? queued)?.endpoint.accountId;
    if ((!record && !queued) || (caller.kind === "account" && owner !== caller.accountId)) {
      throw new ApiError("postback_not_found", `No postback ${JSON.stringify(id)}. Ids are those the ingest answer listed.`);
    }
    const endpoint = (record ?? queued)!.endpoint;
    // A queued postback is pending, failed (a retry scheduled) or held; once it leaves the
    // queue the store's state is final. A dead one sent again is pending once more.
    const state = !queued ? record!.state : queued.held ? "held" : record?.state === "failed" ? "failed" : "pending";
    return {
      id,
      state,
      endpoint: {
        method: endpoint.method,
        url: endpoint.url,
        default: endpoint.defaultValue,
        max_attempts: endpoint.maxAttempts,
        ...(endpoint.destinationId ? { destination_id: endpoint.destinationId } : {}),
      },
      data: JSON.parse((record ?? queued)!.data),
      created_at: iso((record ?? queued)!.createdAt),
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
  });
}
