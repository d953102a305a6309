/**
 * Accounts (tenants): created, changed and deleted by the admin. Deleting one deletes its tokens
 * and destinations in one step, and releases the destinations' held postbacks so that the worker
 * cancels them rather than leaving them parked forever.
 */
import type { AccountPatch } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { DuplicateExternalIdError } from "../core/port-errors.js";
import { newAccountId } from "../core/ids.js";
import type { Account } from "../core/types.js";
import { releaseHeld, type WarnLog } from "./destinations.js";
import type { Ports } from "./ports.js";
import { purgeAccountEvents } from "./event-retention.js";

export function accountNotFound(id: string): ApiError {
  return new ApiError("account_not_found", `No account ${JSON.stringify(id.slice(0, 100))}. Ids are those POST /v1/accounts answered (acct_...).`);
}

export function externalIdTaken(externalId: string): ApiError {
  return new ApiError("external_id_taken", `Another account has external_id ${JSON.stringify(externalId.slice(0, 100))}; external ids are unique. GET /v1/accounts?external_id=... finds it.`, {
    field: "external_id",
  });
}

/** Creates an account from checked fields; `name` is required. */
export async function createAccount(ports: Ports, fields: AccountPatch & { name: string }, now = Date.now()): Promise<Account> {
  const account: Account = {
    id: newAccountId(now),
    name: fields.name,
    email: fields.email ?? null,
    website: fields.website ?? null,
    externalId: fields.externalId ?? null,
    metadata: fields.metadata ?? {},
    dedupeWindowMs: fields.dedupeWindowMs ?? 0,
    strictEventTypes: fields.strictEventTypes ?? false,
    eventRetentionMs: fields.eventRetentionMs ?? null,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await ports.stores.accounts.createAccount(account);
  } catch (err) {
    throw err instanceof DuplicateExternalIdError ? externalIdTaken(err.externalId) : err;
  }
  return account;
}

/** The account after the patch (as it is, for an empty patch); account_not_found when there is none. */
export async function updateAccount(ports: Ports, id: string, patch: AccountPatch, now = Date.now()): Promise<Account> {
  const store = ports.stores.accounts;
  let account: Account | undefined;
  try {
    account = await (Object.keys(patch).length ? store.updateAccount(id, patch, now) : store.getAccount(id));
  } catch (err) {
    throw err instanceof DuplicateExternalIdError ? externalIdTaken(err.externalId) : err;
  }
  if (!account) throw accountNotFound(id);
  return account;
}

/** Deletes the account with its tokens and destinations; account_not_found when there is none. */
export async function deleteAccount(ports: Ports, log: WarnLog, id: string): Promise<void> {
  const destinations = await ports.stores.accounts.deleteAccount(id);
  if (!destinations) throw accountNotFound(id);
  // Their held postbacks become due, so the worker finds them and cancels them.
  for (const destinationId of destinations) await releaseHeld(ports.queue, log, destinationId);
  // Its events go too, off the request path: an account may hold millions.
  purgeAccountEvents(ports, id).catch((err: unknown) => log.warn({ err, account_id: id }, "could not delete all events of a deleted account"));
}
