/**
 * An account's tokens: made, listed and revoked by the admin or by a token of that account.
 * A token's secret is shown once, when it is made; only its SHA-256 hash is kept.
 */
import { createHash, randomBytes } from "node:crypto";
import { ApiError } from "../core/errors.js";
import { newTokenId } from "../core/ids.js";
import type { Token } from "../core/types.js";
import type { Ports } from "./ports.js";

/**
 * The hash a token is kept and found by. A plain hash suffices: tokens are 256-bit random
 * secrets, not passwords, so there is nothing for a slow hash to protect.
 */
export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** What every account token begins with: a secret scanner can spot it, and a person tell it apart. */
export const ACCOUNT_TOKEN_PREFIX = "ferry_live_";

/** A new account token: the prefix, then 256 random bits in base64url. */
export function newAccountToken(): string {
  return ACCOUNT_TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** Makes a token for the account; `secret` is the only time the token itself is seen. */
export async function createToken(ports: Ports, accountId: string, name: string | null, now = Date.now()): Promise<{ token: Token; secret: string }> {
  const secret = newAccountToken();
  const token: Token = { id: newTokenId(now), accountId, name, createdAt: now, revokedAt: null };
  await ports.stores.accounts.createToken(token, hashToken(secret));
  return { token, secret };
}

export async function listTokens(ports: Ports, accountId: string): Promise<Token[]> {
  return ports.stores.accounts.listTokens(accountId);
}

/** Revokes the account's token; token_not_found when the account has no such token. */
export async function revokeToken(ports: Ports, accountId: string, tokenId: string, now = Date.now()): Promise<void> {
  if (!(await ports.stores.accounts.revokeToken(accountId, tokenId, now))) {
    throw new ApiError("token_not_found", `Account ${accountId} has no token ${JSON.stringify(tokenId.slice(0, 100))}; GET /v1/accounts/${accountId}/tokens lists them.`);
  }
}
