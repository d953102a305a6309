/**
 * Who is calling. A request carries one token, as `Authorization: Bearer <token>` or as
 * `CL-X-TOKEN: <token>` (Data Pusher's clients send that): either the admin token, or an account
 * token made with POST /v1/accounts/{id}/tokens.
 *
 * Tokens are kept only as SHA-256 hashes; neither a token nor its hash is ever logged. (A plain
 * hash suffices: tokens are 256-bit random secrets, not passwords, so there is nothing for a slow
 * hash to protect.) The admin token is compared in constant time. An account token is found by
 * its hash (an index lookup in the store, then a map lookup in the cache): what a timing
 * difference could reveal is a prefix of a hash, which says nothing about the token.
 *
 * Account-token lookups are cached for at most TOKEN_CACHE_MS, so a token revoked (or an account
 * deleted) by another process stops working within that time; in this process, at once.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import { BoundedMap } from "../core/bounded-map.js";
import type { Token } from "../core/types.js";
import type { Stores } from "../store/port.js";
import { ACCOUNT_TOKEN_PREFIX, hashToken } from "../app/tokens.js";

// How tokens are made and hashed is src/app/tokens.ts; these names stay importable from here.
export { ACCOUNT_TOKEN_PREFIX, hashToken, newAccountToken } from "../app/tokens.js";

/** Who sent a request: the admin, or an account through one of its tokens. */
export type Caller = { kind: "admin" } | { kind: "account"; accountId: string; tokenId: string };

declare module "fastify" {
  interface FastifyRequest {
    /** Set by `authenticate` on every route that needs a token. */
    caller: Caller;
  }
}

/** A new admin token: a prefix a secret scanner can spot, then 256 random bits. */
export function newAdminToken(): string {
  return "ferry_admin_" + randomBytes(32).toString("base64url");
}

export function tokenMatches(token: string, hash: Buffer): boolean {
  return timingSafeEqual(hashToken(token), hash);
}

const CHALLENGE = { "www-authenticate": 'Bearer realm="ferry"' };

/**
 * The token of a request: `Authorization: Bearer <token>`, or else `CL-X-TOKEN: <token>`.
 * Throws 401 missing_token when there is none.
 */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) {
    const alt = request.headers["cl-x-token"];
    const value = Array.isArray(alt) ? undefined : alt?.trim();
    if (value && !/\s/.test(value)) return value;
    throw new ApiError("missing_token", "Send the header Authorization: Bearer <token> (or CL-X-TOKEN: <token>).", { headers: CHALLENGE });
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new ApiError("missing_token", 'The Authorization header must read "Bearer <token>".', { headers: CHALLENGE });
  }
  return match[1] as string;
}

/** How long an account-token lookup is trusted before the store is asked again. */
export const TOKEN_CACHE_MS = 1_000;
/** Most tokens cached at once; the oldest entry goes first. */
const TOKEN_CACHE_SIZE = 10_000;

/** Account tokens found recently, by the hex of their hash. Only tokens that exist are kept. */
export class TokenCache {
  private readonly entries: BoundedMap<string, Token>;

  constructor(ttlMs: number = TOKEN_CACHE_MS) {
    this.entries = new BoundedMap(TOKEN_CACHE_SIZE, ttlMs);
  }

  get(key: string, now: number): Token | undefined {
    return this.entries.get(key, now);
  }

  set(key: string, token: Token, now: number): void {
    this.entries.set(key, token, now);
  }

  /** Forgets a token (it was revoked here). */
  forgetToken(tokenId: string): void {
    this.entries.deleteWhere((token) => token.id === tokenId);
  }

  /** Forgets every token of an account (it was deleted here). */
  forgetAccount(accountId: string): void {
    this.entries.deleteWhere((token) => token.accountId === accountId);
  }
}

export interface AuthDeps {
  adminTokenHash: Buffer;
  stores: Stores;
  tokenCache: TokenCache;
}

/** An onRequest hook: sets `request.caller`, or refuses the request with 401. */
export function authenticate(deps: AuthDeps) {
  return async (request: FastifyRequest): Promise<void> => {
    request.caller = await callerForToken(deps, bearerToken(request));
  };
}

/**
 * Who a token is: the admin, or an account through a live token of its. Throws 401
 * invalid_token or token_revoked. For a token found where `authenticate` does not look (a
 * compat route's body, say).
 */
export async function callerForToken(deps: AuthDeps, token: string): Promise<Caller> {
  const hash = hashToken(token);
  if (timingSafeEqual(hash, deps.adminTokenHash)) return { kind: "admin" };
  // Only our own account tokens are looked up: anything else cannot be one, and must not
  // cost a store round trip.
  const found = token.startsWith(ACCOUNT_TOKEN_PREFIX) ? await findAccountToken(deps, hash) : undefined;
  if (!found) {
    throw new ApiError(
      "invalid_token",
      "The token is not valid: it is neither the admin token (printed on first start, or FERRY_ADMIN_TOKEN) nor a live account token (POST /v1/accounts/{id}/tokens).",
      { headers: CHALLENGE },
    );
  }
  if (found.revokedAt !== null) {
    throw new ApiError("token_revoked", `This account token (${found.id}) was revoked at ${new Date(found.revokedAt).toISOString()}; make a new one with POST /v1/accounts/{id}/tokens.`, {
      headers: CHALLENGE,
    });
  }
  return { kind: "account", accountId: found.accountId, tokenId: found.id };
}

async function findAccountToken(deps: AuthDeps, hash: Buffer): Promise<Token | undefined> {
  const key = hash.toString("hex");
  const now = Date.now();
  const cached = deps.tokenCache.get(key, now);
  if (cached) return cached;
  let token: Token | undefined;
  try {
    token = await deps.stores.accounts.findToken(hash);
  } catch (err) {
    throw new ApiError("store_unavailable", "The token cannot be checked now: the store is unreachable. Send the request again shortly.", {
      headers: { "retry-after": "5" },
      cause: err,
    });
  }
  if (token) deps.tokenCache.set(key, token, now);
  return token;
}

/** Refuses an account token on a route only the admin may use. */
export function requireAdmin(request: FastifyRequest, what: string): void {
  if (request.caller.kind !== "admin") {
    throw new ApiError("admin_only", `Only the admin token may ${what}; this request carries an account token.`);
  }
}
