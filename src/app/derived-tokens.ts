/**
 * Derived tokens: account tokens that can be worked out again, for the seed systems whose
 * originals hand the same token out more than once (the ADS service's `POST /webhooks/account`
 * for a known user; Data Pusher's `GET /account/`, which shows `secret_token`). Ferry keeps only
 * token hashes, so it cannot show a stored token again; instead such a token is
 * HMAC-SHA256(key, purpose), where the key is a secret *the caller presents* (the registration
 * token, the admin token), never one Ferry stores. Whoever can ask for the token again holds the
 * key anyway; a copy of the database reveals nothing. Changing the key (a new registration or
 * admin token) derives new tokens; the old ones keep working until revoked.
 */
import { createHmac } from "node:crypto";
import { newTokenId } from "../core/ids.js";
import type { Token } from "../core/types.js";
import { ACCOUNT_TOKEN_PREFIX, hashToken } from "./tokens.js";
import type { Ports } from "./ports.js";

/** The account token derived from `key` for `purpose` (e.g. "ads:" + user id). */
export function deriveAccountToken(key: string, purpose: string): string {
  return ACCOUNT_TOKEN_PREFIX + createHmac("sha256", key).update(purpose, "utf8").digest("base64url");
}

/**
 * Makes sure `token` is one of the account's tokens: creates it (named `name`) when its hash is
 * unknown. "revoked" when it was made once and revoked since: then it stays revoked (the owner
 * revoked it for a reason), and the caller must say so rather than hand it out.
 */
export async function ensureDerivedToken(ports: Ports, accountId: string, token: string, name: string, now = Date.now()): Promise<"live" | "revoked"> {
  const store = ports.stores.accounts;
  const hash = hashToken(token);
  const stateOf = (found: Token): "live" | "revoked" => {
    // Another account's: only a purpose reused across accounts could do this, which is a bug.
    if (found.accountId !== accountId) throw new Error(`derived token ${found.id} belongs to another account than ${accountId}`);
    return found.revokedAt === null ? "live" : "revoked";
  };
  const found = await store.findToken(hash);
  if (found) return stateOf(found);
  try {
    await store.createToken({ id: newTokenId(now), accountId, name, createdAt: now, revokedAt: null }, hash);
    return "live";
  } catch (err) {
    // Two requests deriving it at once: the other one made it (the hash is unique).
    const raced = await store.findToken(hash);
    if (raced) return stateOf(raced);
    throw err;
  }
}
