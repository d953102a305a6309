/**
 * The ADS webhook service (seed 004, "Webhook test"), for its clients unchanged:
 *   POST /webhooks/account    Bearer <FERRY_REGISTRATION_TOKEN>, {"user_id","user_email"?}
 *                             → 200 "<access token>" (a JSON string; the same one again for a
 *                             user_id already registered)
 *   POST /webhooks/subscribe  Bearer <access token>, {"event","url"} → 200 `200`; the same
 *                             event and URL again → 200 {"warning":"subscription already exists"}
 *   POST /webhooks/trigger    Bearer <FERRY_TRIGGER_TOKEN>, {"event","payload"} → 200 `200`;
 *                             every account subscribed to the event gets the payload, wrapped
 *                             (./ads-event.ts), POSTed to its callback URL
 * Errors answer as the original did, `{"error": "..."}` with its status, plus Ferry's `code`;
 * where the original answered 500 for a client's mistake (no event, no payload), 400.
 *
 * The mapping onto Ferry: a user is an account with external id `ads:<user_id>`; a subscription
 * is the event type in the event_types of the account's POST destination for that URL (a second
 * event for one URL adds a type to that destination: Ferry keeps one destination per method and
 * URL, so its failures count per URL, not per (URL, event) as the original's rows did); a
 * trigger is a broadcast (src/app/broadcast.ts) whose md5 is kept in the dedupe store. Each
 * subscription's destination takes one attempt per event, fails on any non-2xx answer, and after
 * FERRY_ADS_MAX_SEND_ATTEMPTS failures in all (no window) is disabled, its later events held;
 * `ferry replay --destination` resends what failed, as the original's Resend table and cron did.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import { DuplicateExternalIdError } from "../core/port-errors.js";
import { newBroadcastId } from "../core/ids.js";
import type { Account, Destination } from "../core/types.js";
import type { Ports } from "../app/ports.js";
import { createAccount } from "../app/accounts.js";
import { registerDestination, updateDestination } from "../app/destinations.js";
import { deriveAccountToken, ensureDerivedToken } from "../app/derived-tokens.js";
import { broadcast } from "../app/broadcast.js";
import { MaybeQueuedError } from "../app/maybe-queued.js";
import { callerForToken, hashToken, tokenMatches } from "../api/auth.js";
import { portProblem } from "../api/common.js";
import { fastifyProblem } from "../api/fastify-errors.js";
import { parseEventTypes } from "../api/destinations.js";
import { checkUrlTemplate } from "../api/validate.js";
import { adsEnvelope, triggerMd5 } from "./ads-event.js";
import type { CompatDeps } from "./index.js";

/** Accounts registered here are known elsewhere by this prefix and the ADS user_id. */
export const ADS_PREFIX = "ads:";
/** The dedupe store's scope for trigger md5s: no account's (account ids begin `acct_`). */
export const TRIGGER_SCOPE = "ads:trigger";
/**
 * How long a trigger's md5 is remembered. The original kept every event forever; Ferry's dedupe
 * store is pruned of entries older than 30 days (src/service.ts), so a trigger repeated after
 * that is sent again.
 */
export const TRIGGER_MEMORY_MS = 30 * 24 * 3600 * 1000;

const EVENT = /^[A-Za-z0-9_.:*-]{1,200}$/;
const MAX_USER_ID = 200;

/** The original's answer to a request without a usable bearer token. */
function bearerOf(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined || !header.includes("Bearer")) {
    throw new ApiError("missing_token", '"{Bearer}" missing from "Authorization" header');
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new ApiError("missing_token", 'Improperly formatted "Authorization" header');
  return match[1]!;
}

/** The presented token against a configured one's hash, in constant time; never when unset. */
function presents(token: string, configuredHash: Buffer | undefined): boolean {
  return configuredHash !== undefined && tokenMatches(token, configuredHash);
}

/** JSON as flask_restful wrote it: a string or a number is sent as JSON, not as text. */
function json(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).type("application/json").send(JSON.stringify(value));
}

function objectBody(body: unknown): Record<string, unknown> {
  return body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

export async function adsRoutes(app: FastifyInstance, deps: CompatDeps): Promise<void> {
  const config = deps.config;
  const hashOf = (token: string | undefined) => (token === undefined ? undefined : hashToken(token));
  const registrationHash = hashOf(config.registration_token);
  const triggerHash = hashOf(config.trigger_token);

  // The original's error shape, `{"error": ...}`, with Ferry's code beside it. An unexpected
  // error goes on to Ferry's handler, which logs it and answers a generic 500.
  app.setErrorHandler((thrown: FastifyError | ApiError, request, reply) => {
    const err = portProblem(thrown) ?? fastifyProblem(thrown) ?? thrown;
    if (!(err instanceof ApiError)) throw err;
    if (err.status >= 500) request.log.error({ err: err.cause ?? err, code: err.code }, err.message);
    if (err.headers) reply.headers(err.headers);
    return reply.code(err.status).type("application/json").send({ error: err.message, code: err.code });
  });

  app.post("/webhooks/account", async (request, reply) => {
    const token = bearerOf(request);
    if (!presents(token, registrationHash)) {
      throw new ApiError(
        "invalid_token",
        config.registration_token === undefined
          ? "incorrect registration token was provided (FERRY_REGISTRATION_TOKEN is not set: registration is closed)"
          : "incorrect registration token was provided",
      );
    }
    const body = objectBody(request.body);
    const userId = userIdOf(body["user_id"]);
    // Kept when it is an address (the original kept any string); a NUL could not be stored in Postgres.
    const given = body["user_email"];
    const email = typeof given === "string" && given.length <= 320 && /^[^\s@\u0000]+@[^\s@\u0000]+$/.test(given) ? given : null;
    const externalId = ADS_PREFIX + userId;
    const account = await findOrCreateAccount(deps, externalId, userId, email);
    // The original handed a known user its stored token again. Ferry stores only hashes, so it
    // recomputes the token from the registration token the caller just presented (an HMAC of
    // the external id under it) and makes sure its hash is on file: the same user gets the same
    // token, and no token is ever kept in the clear. A new FERRY_REGISTRATION_TOKEN hands out
    // new tokens; those given before keep working until revoked.
    const accessToken = deriveAccountToken(token, externalId);
    if ((await ensureDerivedToken(deps, account.id, accessToken, "ADS access token")) === "revoked") {
      throw new ApiError(
        "account_token_revoked",
        `The access token of user ${JSON.stringify(userId.slice(0, 100))} (account ${account.id}) was revoked; the admin can delete the account (DELETE /v1/accounts/${account.id}) for the user to register anew.`,
      );
    }
    return json(reply, accessToken);
  });

  app.post("/webhooks/subscribe", async (request, reply) => {
    const token = bearerOf(request);
    const caller = await callerForToken(deps, token);
    if (caller.kind !== "account") {
      throw new ApiError("invalid_token", "incorrect subscription token was provided: use the access token POST /webhooks/account answered, not the admin token");
    }
    const body = objectBody(request.body);
    const { event, url } = subscriptionOf(body);
    const result = await subscribe(deps, request, caller.accountId, event, url);
    return result === "exists" ? json(reply, { warning: "subscription already exists" }) : json(reply, 200);
  });

  app.post("/webhooks/trigger", async (request, reply) => {
    const token = bearerOf(request);
    if (!presents(token, triggerHash)) {
      throw new ApiError(
        "invalid_token",
        config.trigger_token === undefined ? "incorrect trigger token was provided (FERRY_TRIGGER_TOKEN is not set)" : "incorrect trigger token was provided",
      );
    }
    const { event, payload } = triggerOf(request.body);
    const md5 = triggerMd5(request.body);
    if (await sendTrigger(deps, event, payload, md5)) request.log.info({ event, md5 }, "ADS trigger seen before; not sent again");
    // The original answered 200 whether the event was new or a repeat.
    return json(reply, 200);
  });
}

/** The trigger's event and payload; the original's messages when either is missing. */
function triggerOf(body: unknown): { event: string; payload: unknown } {
  const b = objectBody(body);
  const event = b["event"];
  if (typeof event !== "string" || !EVENT.test(event) || event.includes("*")) {
    throw new ApiError("invalid_trigger", event === undefined ? "no event was provided" : "the event must be 1 to 200 letters, digits and _ . : - (e.g. relation_added)", { field: "event" });
  }
  if (!("payload" in b)) throw new ApiError("invalid_trigger", "no payload was provided", { field: "payload" });
  return { event, payload: b["payload"] };
}

/**
 * Broadcasts the event, wrapped, to every subscriber: at most once per md5 while
 * FERRY_ADS_DEDUPE_TRIGGERS is on. A queue failure is a 503 and the md5 is forgotten, so the
 * provider's retry is not taken for a repeat; should the queue have stored it after all, that
 * retry may reach a subscriber twice, which beats losing the event. True for a repeat (nothing sent).
 */
async function sendTrigger(deps: CompatDeps, event: string, payload: unknown, md5: string): Promise<boolean> {
  const now = Date.now();
  const id = newBroadcastId(now);
  const once = deps.config.ads_dedupe_triggers ? { scope: TRIGGER_SCOPE, key: md5, windowMs: TRIGGER_MEMORY_MS } : undefined;
  try {
    const result = await broadcast(deps, deps.config, { type: event, objects: [adsEnvelope(id, event, payload, now)], id, now, ...(once ? { once } : {}) });
    if (!result.repeated) deps.onEnqueued(result.postbacks.length);
    return result.repeated;
  } catch (err) {
    throw err instanceof MaybeQueuedError ? err.cause : err;
  }
}

function userIdOf(value: unknown): string {
  // The original stored user_id in a string column; a number is taken as its text.
  const userId = typeof value === "number" && Number.isFinite(value) ? String(value) : value;
  if (typeof userId !== "string" || userId.trim() === "" || userId.length > MAX_USER_ID || /[\x00-\x1f\x7f]/.test(userId)) {
    throw new ApiError(
      "missing_user_id",
      userId === undefined ? 'No "user_id" provided in authentication request' : `"user_id" must be a string of 1 to ${MAX_USER_ID} characters without control characters`,
      { field: "user_id" },
    );
  }
  return userId;
}

/** The account known as `externalId`, made on its first registration (two at once: one wins). */
async function findOrCreateAccount(ports: Ports, externalId: string, userId: string, email: string | null): Promise<Account> {
  const found = await ports.stores.accounts.findAccountByExternalId(externalId);
  if (found) return found;
  try {
    return await createAccount(ports, { name: userId, email, externalId });
  } catch (err) {
    if (!(err instanceof DuplicateExternalIdError)) throw err;
    const raced = await ports.stores.accounts.findAccountByExternalId(externalId);
    if (!raced) throw err;
    return raced;
  }
}

/** The body's event and URL, checked as Ferry checks a destination's; the original's 401 when absent. */
function subscriptionOf(body: Record<string, unknown>): { event: string; url: string } {
  if (body["url"] === undefined || body["event"] === undefined) {
    throw new ApiError("invalid_subscription", "incorrect submission data was provided: send {\"event\": \"relation_added\", \"url\": \"<callback URL>\"}");
  }
  if (typeof body["event"] !== "string" || !EVENT.test(body["event"])) {
    throw new ApiError("invalid_event_types", 'event must be 1 to 200 letters, digits and _ . : - , or a prefix such as "citation.*"', { field: "event" });
  }
  const [event] = parseEventTypes([body["event"]]);
  return { event: event!, url: checkUrlTemplate(body["url"], "url").source };
}

/**
 * Adds the subscription: a new POST destination for the URL with the event as its one type, or
 * the event added to the types of the account's destination for that URL. "exists" when that
 * destination has the event already (the original's warning; a disabled one stays disabled,
 * as the original left an inactive subscription inactive: PATCH /v1/destinations/{id}
 * {"enabled":true} with the same token enables it). Adding a type reads, then writes the list:
 * two subscriptions of one URL to different events at the same instant may keep only one (the
 * answer was 200 for both); subscribing again restores the other.
 */
async function subscribe(deps: CompatDeps, request: FastifyRequest, accountId: string, event: string, url: string): Promise<"created" | "exists"> {
  const current: Destination | undefined = await deps.stores.accounts.findDestination(accountId, "POST", url);
  if (current) {
    if (current.eventTypes.includes(event)) return "exists";
    if (current.eventTypes.length === 0) {
      // Ferry's own destination taking every push of the account: narrowing it to one event
      // would silently change what it gets.
      throw new ApiError("destination_exists", `The account's destination ${current.id} for this URL takes every type of its pushes and no broadcast; give it the event in its event_types (PATCH /v1/destinations/${current.id}), or subscribe another URL.`, { field: "url" });
    }
    await updateDestination(deps, request.log, current, { eventTypes: [...current.eventTypes, event] });
    return "created";
  }
  await registerDestination(deps, request.log, accountId, {
    method: "POST",
    url,
    eventTypes: [event],
    // One attempt per event, as the original made; `ferry replay` sends the failed ones again.
    maxAttempts: 1,
    failureThreshold: deps.config.ads_max_send_attempts,
    failureWindowMs: 0,
    onDisable: "hold",
  });
  return "created";
}
