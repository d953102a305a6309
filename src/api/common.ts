/**
 * What the routes share: a failed queue or store call as its 503, times as ISO strings, paged
 * listings, and who may see an account's resources.
 */
import type { FastifyRequest } from "fastify";
import type { AccountStore, Page } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { DuplicateIdError, QueueUnavailableError, StoreUnavailableError } from "../core/port-errors.js";
import type { Account } from "../core/types.js";
import { accountNotFound } from "../app/accounts.js";

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The account whose resources the caller may touch; undefined for the admin (all of them). */
export const ownAccount = (request: FastifyRequest): string | undefined =>
  request.caller.kind === "account" ? request.caller.accountId : undefined;

export function queueUnavailable(cause: unknown, detail = "The queue cannot be reached now, so the request was not carried out. Send it again shortly."): ApiError {
  return new ApiError("queue_unavailable", detail, { headers: { "retry-after": "1" }, cause });
}

export function storeUnavailable(cause: unknown): ApiError {
  return new ApiError("store_unavailable", "The store cannot be reached now, so the request was not carried out. Send it again shortly.", {
    headers: { "retry-after": "5" },
    cause,
  });
}

/**
 * A port's typed failure as the API answers it, naming the backend at fault; undefined for any
 * other error. A duplicate id is Ferry's bug, not the caller's (Ferry makes every id), so it is
 * a 500 whose cause is logged.
 */
export function portProblem(err: unknown): ApiError | undefined {
  if (err instanceof QueueUnavailableError) return queueUnavailable(err);
  if (err instanceof StoreUnavailableError) return storeUnavailable(err);
  if (err instanceof DuplicateIdError) {
    return new ApiError("internal_error", "Something went wrong on Ferry's side; it has been logged.", { cause: err });
  }
  return undefined;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 100;

/** `?limit=&after=` of a listing, checked. */
export function parsePage(query: unknown): Page {
  const limitRaw = queryString(query, "limit");
  let limit = DEFAULT_PAGE;
  if (limitRaw !== undefined) {
    if (!/^\d{1,4}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE) {
      throw new ApiError("invalid_query", `limit must be a whole number from 1 to ${MAX_PAGE}; got ${JSON.stringify(limitRaw)}.`, { field: "limit" });
    }
    limit = Number(limitRaw);
  }
  const after = queryString(query, "after");
  if (after !== undefined && after.length > 100) {
    throw new ApiError("invalid_query", `after must be one id, the next_after of the previous page; got ${shownQuery(after)}.`, { field: "after" });
  }
  return { limit, after };
}

/** Lists one page: asks the store for one more item than shown, to know whether a next page exists. */
export async function listPage<T extends { id: string }, V>(
  page: Page,
  list: (page: Page) => Promise<T[]>,
  view: (item: T) => V,
): Promise<{ data: V[]; next_after: string | null }> {
  const items = await list({ after: page.after, limit: page.limit + 1 });
  const more = items.length > page.limit;
  const shownItems = more ? items.slice(0, page.limit) : items;
  return { data: shownItems.map(view), next_after: more ? shownItems[shownItems.length - 1]!.id : null };
}

/**
 * A single query parameter, or undefined. Given twice the query parser makes it an array, which
 * no route means to take (a store would be handed a list where it expects an id): 422 naming it,
 * as is an empty value.
 */
export function queryString(query: unknown, name: string): string | undefined {
  const value = ((query ?? {}) as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    throw new ApiError("invalid_query", `${name} is given ${value.length} times; give it once, with one value (got ${shownQuery(value)}).`, { field: name });
  }
  if (typeof value !== "string" || value === "") {
    throw new ApiError("invalid_query", `${name} must be given once, with a value; got ${shownQuery(value)}. Give it a value or leave it out.`, { field: name });
  }
  return value;
}

/** A query value as a message quotes it, cut short. */
function shownQuery(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? text.slice(0, 100) + "…" : text;
}

export { accountNotFound };

/**
 * The account a caller may act on: the admin any account that exists; an account token only
 * its own. Another account's id is 404, as an unknown one is, so nothing tells them apart.
 */
export async function accessibleAccount(request: FastifyRequest, store: AccountStore, accountId: string): Promise<Account> {
  const caller = request.caller;
  if (caller.kind === "account" && caller.accountId !== accountId) throw accountNotFound(accountId);
  const account = await store.getAccount(accountId);
  if (!account) throw accountNotFound(accountId);
  return account;
}
