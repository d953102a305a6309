/**
 * fun-with-webhooks (seed 003), switched on by FERRY_COMPAT=webhooks: its `POST /webhook`
 * {"name","callbackURL"} registers a client. A client is an account (external id
 * `webhooks:<name>`) with one POST destination to its callback, set up as that system treated
 * its clients: a 10 s timeout, one attempt per call, disabled after
 * FERRY_WEBHOOKS_MAX_FAILURES failures in all (not necessarily in a row), and what is owed to a
 * disabled client dropped (on_disable "drop"). Registering again enables a disabled client with
 * its failure count cleared; an enabled one is 400 ALREADY_REGISTERED, which its clients read
 * as success.
 *
 * That system took registrations from anyone; Ferry takes them from FERRY_TRUSTED_NETWORKS or
 * with `Authorization: Bearer <FERRY_REGISTRATION_TOKEN>`, and answers 401 otherwise. Answers
 * keep its shapes: 200 with an empty body, or 400 with a list of problems; Ferry adds `code`.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { API_ERRORS, ApiError, type ApiErrorCode } from "../core/errors.js";
import { DuplicateExternalIdError } from "../core/port-errors.js";
import { checkHttpUrl } from "../core/template.js";
import { inNetworks } from "../core/addresses.js";
import type { Account, Destination } from "../core/types.js";
import { createAccount } from "../app/accounts.js";
import { maxTimeoutFor, registerDestination, updateDestination, type DestinationFields, type WarnLog } from "../app/destinations.js";
import type { Ports } from "../app/ports.js";
import { hashToken } from "../app/tokens.js";
import { portProblem } from "../api/common.js";
import { mapFastifyError } from "../api/fastify-errors.js";
import type { CompatDeps } from "./index.js";
import { checkRegistration, type Registration, type RegistrationProblem } from "./webhooks-schema.js";

/** The external id of a client's account: this prefix and the name it registered with. */
export const CLIENT_PREFIX = "webhooks:";
/** That system waited 10 s for a callback to answer (its `request-timeout-ms`). */
const CALLBACK_TIMEOUT_MS = 10_000;
/** Ferry's account names are at most 200 characters; the full name is in the external id. */
const MAX_ACCOUNT_NAME = 200;

export type RegisterOutcome = "created" | "enabled" | "already_registered";

export interface ClientSettings {
  /** FERRY_WEBHOOKS_MAX_FAILURES: failures, in all, that disable a client. */
  maxFailures: number;
  /** FERRY_LEASE_MS: a delivery's timeout must end within half of it. */
  leaseMs: number;
}

/** The destination of a client, as that system treated its callbacks. */
export function clientDestination(callbackURL: string, settings: ClientSettings): DestinationFields {
  return {
    method: "POST",
    url: callbackURL,
    timeoutMs: Math.min(CALLBACK_TIMEOUT_MS, maxTimeoutFor(settings.leaseMs)),
    // One request per call, as its notifier made: a failure is counted, never retried.
    maxAttempts: 1,
    failureThreshold: settings.maxFailures,
    // Failures count forever: "after 3 attempts, not consecutively, the account will be disabled".
    failureWindowMs: 0,
    // Its notifier skipped calls of a disabled client; they were not kept for later.
    onDisable: "drop",
  };
}

/** The client's account, created on its first registration (a racing one finds it). */
async function clientAccount(ports: Ports, name: string): Promise<Account> {
  const externalId = CLIENT_PREFIX + name;
  const found = await ports.stores.accounts.findAccountByExternalId(externalId);
  if (found) return found;
  try {
    return await createAccount(ports, { name: name.slice(0, MAX_ACCOUNT_NAME), externalId });
  } catch (err) {
    // Two first registrations of one name at once: the other one made the account.
    const taken = err instanceof DuplicateExternalIdError || (err instanceof ApiError && err.code === "external_id_taken");
    if (!taken) throw err;
    const raced = await ports.stores.accounts.findAccountByExternalId(externalId);
    if (!raced) throw err;
    return raced;
  }
}

/**
 * Registers a client: a new name gets its account and destination; a known one whose
 * destination is enabled is already registered; a disabled one is enabled again, with its
 * failure count cleared and the callback it gives now.
 */
export async function registerClient(ports: Ports, log: WarnLog, settings: ClientSettings, reg: Registration): Promise<RegisterOutcome> {
  const account = await clientAccount(ports, reg.name);
  const destinations = await ports.stores.accounts.accountDestinations(account.id);
  if (destinations.some((d) => d.enabled)) return "already_registered";
  const fields = clientDestination(reg.callbackURL, settings);
  const disabled: Destination | undefined = destinations.find((d) => d.method === fields.method && d.url === fields.url) ?? destinations.at(-1);
  if (disabled && (disabled.method !== fields.method || disabled.url !== fields.url)) {
    // Another callback than before: the same destination, moved, so the client keeps one.
    await updateDestination(ports, log, disabled, { ...fields, enabled: true });
    return "enabled";
  }
  const { created } = await registerDestination(ports, log, account.id, fields);
  return created ? "created" : "enabled";
}

/** A problem list item for a Ferry error: that system's errorCode style, with Ferry's code. */
function errorItem(code: ApiErrorCode, message: string): Record<string, unknown> {
  return { errorCode: code.toUpperCase(), message, code };
}

function sendList(reply: FastifyReply, status: number, items: unknown[], headers?: Record<string, string>): FastifyReply {
  if (headers) reply.headers(headers);
  return reply.code(status).type("application/json; charset=utf-8").send(items);
}

/** Equal strings, compared in constant time (their hashes, so lengths tell nothing either). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(hashToken(given), hashToken(expected));
}

/** From a trusted network, or with the registration token; a 401 otherwise. */
function authorize(request: FastifyRequest, deps: CompatDeps): void {
  // request.ip is the socket's address, or X-Forwarded-For's from FERRY_TRUSTED_PROXIES only.
  const networks = deps.config.trustedNetworks;
  if (networks && inNetworks(networks, request.ip)) return;
  const header = request.headers.authorization;
  const token = typeof header === "string" ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1] : undefined;
  const hint =
    "Register from a network in FERRY_TRUSTED_NETWORKS, or send Authorization: Bearer <FERRY_REGISTRATION_TOKEN>.";
  if (token === undefined) throw new ApiError("missing_token", `No registration token. ${hint}`, { headers: { "www-authenticate": 'Bearer realm="ferry"' } });
  const expected = deps.config.registration_token;
  if (expected === undefined || !sameSecret(token, expected)) {
    throw new ApiError("invalid_token", `The token is not the registration token. ${hint}`, { headers: { "www-authenticate": 'Bearer realm="ferry"' } });
  }
}

export function webhooksRoutes(app: FastifyInstance, deps: CompatDeps): void {
  const settings: ClientSettings = { maxFailures: deps.config.webhooks_max_failures, leaseMs: deps.config.lease_ms };

  // That system's answers are lists ([{errorCode, message}]); Ferry's errors here are too. A
  // body that is not JSON, say, is a list with Ferry's code; an unexpected failure goes on to
  // Ferry's own handler, which logs it.
  app.setErrorHandler((thrown: FastifyError | Error, request, reply) => {
    const err = portProblem(thrown) ?? thrown;
    if (err instanceof ApiError) {
      if (err.status >= 500) request.log.error({ err: err.cause ?? err, code: err.code }, err.message);
      return sendList(reply, err.status, [errorItem(err.code, err.message)], err.headers);
    }
    const mapped = mapFastifyError(err as FastifyError);
    if (mapped) return sendList(reply, API_ERRORS[mapped.code].status, [errorItem(mapped.code, mapped.detail)]);
    throw err;
  });

  // Checked before the body is read, as Ferry's own token check is: a stranger's body is never parsed.
  app.addHook("onRequest", async (request) => authorize(request, deps));

  app.post("/webhook", async (request, reply) => {
    // body-parser gave the original {} for an empty body, which Joi then found without its fields.
    const checked = checkRegistration(request.body ?? {}, (url) => checkHttpUrl(url) === undefined);
    if (!checked.ok) {
      const items = checked.problems.map((p: RegistrationProblem) => ({ ...p, code: "invalid_registration" }));
      return sendList(reply, 400, items);
    }
    const outcome = await registerClient(deps, request.log, settings, checked.value);
    if (outcome === "already_registered") {
      return sendList(reply, 400, [{ errorCode: "ALREADY_REGISTERED", message: "There's already a client with the same name", code: "already_registered" }]);
    }
    // Its answer to a registration: 200 and nothing else.
    return reply.code(200).send();
  });
}
