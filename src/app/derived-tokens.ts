/** TEMPORARY STUB of the lead's compat foundation (reverted before merging main). */
import { createHmac } from "node:crypto";
import { newTokenId } from "../core/ids.js";
import { ACCOUNT_TOKEN_PREFIX, hashToken } from "./tokens.js";
import type { Ports } from "./ports.js";

export function deriveAccountToken(key: string, purpose: string): string {
  return ACCOUNT_TOKEN_PREFIX + createHmac("sha256", key).update(purpose).digest("base64url");
}

export async function ensureDerivedToken(ports: Ports, accountId: string, token: string, name: string): Promise<"live" | "revoked"> {
  const hash = hashToken(token);
  const found = await ports.stores.accounts.findToken(hash);
  if (found) return found.revokedAt === null ? "live" : "revoked";
  const now = Date.now();
  await ports.stores.accounts.createToken({ id: newTokenId(now), accountId, name, createdAt: now, revokedAt: null }, hash);
  return "live";
}
