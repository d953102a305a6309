/**
 * POST /v1/postbacks/{id}/retry sends one dead or failed postback again;
 * POST /v1/destinations/{id}/replay sends again every failed one of a destination in a time
 * range. The work itself is in src/app/resend.ts, shared with `ferry replay`.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";
import type { Ports } from "../app/ports.js";
import { replayDestination, resendPostback } from "../app/resend.js";
import { ownAccount } from "./common.js";
import { checkObjectBody } from "./validate.js";
import { retryPostbackSchema, replayDestinationSchema } from "./schemas/postbacks.js";

/** The latest time a Date can hold (year 275760). */
const MAX_DATE_MS = 8.64e15;

/** A time given as an ISO 8601 string or ms since the epoch; throws 422 naming the field. */
export function parseTime(value: unknown, field: string): number {
  const ms = typeof value === "number" ? value : typeof value === "string" && /^\d{4}-\d\d-\d\d/.test(value) ? Date.parse(value) : NaN;
  // A whole number of ms within what a Date can hold: a fraction (0.5) or a huge number (1e308)
  // cannot be stored in a Postgres bigint and answered 500 there.
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_DATE_MS) {
    throw new ApiError("invalid_time", `${field} must be an ISO 8601 time such as "2026-11-23T00:00:00Z" or whole ms since the epoch; got ${JSON.stringify(value)}.`, { field });
  }
  return ms;
}

export function resendRoutes(app: FastifyInstance, deps: Ports & { onEnqueued?: (() => void) | undefined }): void {
  app.post<{ Params: { id: string } }>("/v1/postbacks/:id/retry", { schema: retryPostbackSchema }, async (request, reply) => {
    const { id } = request.params;
    const outcome = await resendPostback(deps, id, ownAccount(request));
    switch (outcome) {
      case "not_found":
        throw new ApiError("postback_not_found", `No postback ${JSON.stringify(id)}. Ids are those the ingest or push answer listed.`);
      case "pending":
        throw new ApiError("postback_pending", "The postback is queued or being attempted right now; it is not sent again. Retry it once it has failed.");
      case "held":
        throw new ApiError("postback_held", "The postback is held because its destination is disabled; enable the destination and it is sent.");
      case "delivered":
        throw new ApiError("postback_delivered", "The postback was delivered; only failed or dead postbacks are sent again.");
      case "cancelled":
        throw new ApiError("postback_cancelled", "The postback was cancelled (its destination or account was deleted); it cannot be sent again.");
    }
    deps.onEnqueued?.();
    reply.code(202);
    return { id, state: "pending", outcome };
  });

  app.post<{ Params: { id: string }; Body: unknown }>("/v1/destinations/:id/replay", { schema: replayDestinationSchema }, async (request, reply) => {
    const { id } = request.params;
    // The same checks as every other JSON body: an object, and no field a typo could have made.
    const body = checkObjectBody(request.body ?? {}, ["since", "until"], '{"since": "2026-11-23T00:00:00Z", "until": "2026-11-23T12:00:00Z"}');
    if (body["since"] === undefined) {
      throw new ApiError("invalid_time", 'since is required: the start of the range whose failed postbacks are sent again, e.g. "2026-11-23T00:00:00Z".', { field: "since" });
    }
    const from = parseTime(body["since"], "since");
    const to = body["until"] === undefined ? Date.now() + 1 : parseTime(body["until"], "until");
    if (to <= from) throw new ApiError("invalid_time", "until must be later than since.", { field: "until" });
    const result = await replayDestination(deps, id, { from, to }, { accountId: ownAccount(request) });
    if (result === "not_found") throw new ApiError("destination_not_found", `No destination ${JSON.stringify(id.slice(0, 100))}.`);
    if (result.replayed) deps.onEnqueued?.();
    reply.code(202);
    return { destination_id: id, since: new Date(from).toISOString(), until: new Date(to).toISOString(), ...result };
  });
}
