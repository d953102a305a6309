/**
 * Destinations: where an account's pushed data goes. Registering the same method and URL again
 * is the same destination, re-enabled and updated. Enabling one, or deleting it, releases the
 * postbacks held while it was disabled (deleted, they are cancelled by the worker).
 */
import type { Queue } from "../queue/port.js";
import type { DestinationPatch } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { newDestinationId } from "../core/ids.js";
import { newSigningSecret } from "../core/signing.js";
import { DISABLED_BY_OWNER, type Destination, type HttpMethod } from "../core/types.js";
import type { Ports } from "./ports.js";

/** Where a use case reports what it could not do but need not fail for (pino's warn fits). */
export interface WarnLog {
  warn(obj: object, msg: string): void;
}

/** The fields a register gives: method and URL, and any others to set. */
export type DestinationFields = DestinationPatch & { method: HttpMethod; url: string };

/** Who changes a destination, and what the service allows. */
export interface DestinationPolicy {
  /** The admin may switch endpoint health off; an account may not, for its own destination. */
  admin: boolean;
  /** The longest timeout_ms a delivery can keep within its lease: half of lease_ms. */
  maxTimeoutMs: number;
}

export function destinationNotFound(id: string): ApiError {
  return new ApiError("destination_not_found", `No destination ${JSON.stringify(id.slice(0, 100))}. Ids are those POST /v1/destinations answered (dst_...); GET /v1/destinations lists them.`);
}

/** The longest destination timeout the lease allows: a delivery must end well within its lease. */
export const maxTimeoutFor = (leaseMs: number): number => Math.floor(leaseMs / 2);

/**
 * Refuses what the fields ask and the policy does not allow: a timeout_ms the lease cannot hold
 * (the worker would cut it short), or, from an account token, failure_threshold 0 (endpoint
 * health never disabling it, which only the admin may decide).
 */
export function checkDestinationPolicy(fields: DestinationPatch, policy: DestinationPolicy): void {
  if (fields.timeoutMs != null && fields.timeoutMs > policy.maxTimeoutMs) {
    throw new ApiError(
      "timeout_too_long",
      `timeout_ms is ${fields.timeoutMs}; the most is ${policy.maxTimeoutMs}, half of the lease (FERRY_LEASE_MS ${policy.maxTimeoutMs * 2}), so that a delivery ends before its lease does. Ask for ${policy.maxTimeoutMs} or less.`,
      { field: "timeout_ms" },
    );
  }
  if (fields.failureThreshold === 0 && !policy.admin) {
    throw new ApiError(
      "admin_only",
      "failure_threshold 0 switches endpoint health off (the destination is never disabled, however often it fails); only the admin token may set it. Give a threshold of 1 or more, or leave it out for the default.",
      { field: "failure_threshold" },
    );
  }
}

/**
 * The destination, when it exists and (with `accountId`) is that account's; another account's is
 * destination_not_found, as an unknown one is, so nothing tells them apart.
 */
export async function findDestination(ports: Ports, id: string, accountId?: string): Promise<Destination> {
  const destination = await ports.stores.accounts.getDestination(id);
  if (!destination || (accountId !== undefined && destination.accountId !== accountId)) throw destinationNotFound(id);
  return destination;
}

/**
 * Registers a destination for the account. The same method and URL as one the account has is
 * that one, enabled and updated (`created` false); two registrations racing end the same way.
 */
export async function registerDestination(
  ports: Ports,
  log: WarnLog,
  accountId: string,
  fields: DestinationFields,
  now = Date.now(),
): Promise<{ destination: Destination; created: boolean }> {
  const store = ports.stores.accounts;
  const reRegister = async (existing: Destination) => ({
    destination: await applyPatch(ports, log, existing, { enabled: true, ...fields }),
    created: false,
  });
  const existing = await store.findDestination(accountId, fields.method, fields.url);
  if (existing) return reRegister(existing);
  const destination = newDestination(accountId, fields, now);
  try {
    await store.createDestination(destination);
  } catch (err) {
    // Two registrations of one URL at once: the other one won, and this is a re-registration.
    const raced = await store.findDestination(accountId, fields.method, fields.url);
    if (raced) return reRegister(raced);
    throw err;
  }
  return { destination, created: true };
}

function newDestination(accountId: string, fields: DestinationFields, now: number): Destination {
  const disabled = fields.enabled === false;
  return {
    id: newDestinationId(now),
    accountId,
    url: fields.url,
    method: fields.method,
    headers: fields.headers ?? {},
    eventTypes: fields.eventTypes ?? [],
    enabled: !disabled,
    disabledReason: disabled ? DISABLED_BY_OWNER : null,
    disabledAt: disabled ? now : null,
    timeoutMs: fields.timeoutMs ?? null,
    maxAttempts: fields.maxAttempts ?? null,
    defaultValue: fields.defaultValue ?? null,
    rateLimit: fields.rateLimit ?? null,
    concurrency: fields.concurrency ?? null,
    failureThreshold: fields.failureThreshold ?? null,
    failureWindowMs: fields.failureWindowMs ?? null,
    onDisable: fields.onDisable ?? "hold",
    rateLimitBurst: fields.rateLimitBurst ?? null,
    ordering: fields.ordering ?? "none",
    orderingKey: fields.orderingKey ?? null,
    pausedUntil: null,
    pauseReason: null,
    secret: newSigningSecret(),
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * Changes a destination. Another destination of the account with the resulting method and URL
 * makes it destination_exists; enabling it releases its held postbacks.
 */
export async function updateDestination(ports: Ports, log: WarnLog, current: Destination, fields: DestinationPatch): Promise<Destination> {
  await refuseDuplicate(ports, current, fields.method ?? current.method, fields.url ?? current.url);
  return applyPatch(ports, log, current, fields);
}

/** Another destination of the account with this method and URL makes a change 409. */
async function refuseDuplicate(ports: Ports, d: Destination, method: HttpMethod, url: string): Promise<void> {
  if (method === d.method && url === d.url) return;
  const other = await ports.stores.accounts.findDestination(d.accountId, method, url);
  if (other && other.id !== d.id) {
    throw new ApiError("destination_exists", `The account already has destination ${other.id} with ${method} ${url.slice(0, 200)}; change or delete that one instead.`, { field: "url" });
  }
}

/** Applies a patch; enabling releases the postbacks held while it was disabled. */
async function applyPatch(ports: Ports, log: WarnLog, current: Destination, fields: DestinationPatch): Promise<Destination> {
  const patch: DestinationPatch = { ...fields };
  if (patch.enabled === false) {
    // Already disabled (by endpoint health, say): keep its reason and time.
    if (!current.enabled) delete patch.enabled;
    else patch.disabledReason = DISABLED_BY_OWNER;
  }
  const updated = await ports.stores.accounts.updateDestination(current.id, patch, Date.now());
  if (!updated) throw destinationNotFound(current.id);
  const enabled = patch.enabled === true && !current.enabled;
  // A disabled destination switched to drop: what it held becomes due, and the worker cancels it.
  const dropping = !updated.enabled && updated.onDisable === "drop" && current.onDisable !== "drop";
  if (enabled || dropping) await releaseHeld(ports.queue, log, current.id);
  return updated;
}

/** Deletes the destination; its held postbacks become due, so the worker finds and cancels them. */
export async function deleteDestination(ports: Ports, log: WarnLog, current: Destination): Promise<void> {
  if (!(await ports.stores.accounts.deleteDestination(current.id))) throw destinationNotFound(current.id);
  await releaseHeld(ports.queue, log, current.id);
}

/** Gives the destination a new signing secret; the old one stops signing at once. */
export async function rotateSecret(ports: Ports, current: Destination): Promise<Destination> {
  const updated = await ports.stores.accounts.updateDestination(current.id, { secret: newSigningSecret() }, Date.now());
  if (!updated) throw destinationNotFound(current.id);
  return updated;
}

/**
 * Makes the destination's held postbacks due (it was enabled again, or deleted). The store is
 * already changed; should the queue be unreachable, the worker's sweep of held destinations
 * releases them later, so this never fails the caller.
 */
export async function releaseHeld(queue: Queue, log: WarnLog, destinationId: string): Promise<void> {
  try {
    await queue.unhold(destinationId);
  } catch (err) {
    log.warn({ err, destinationId }, "could not release the destination's held postbacks now; the worker's sweep will");
  }
}
