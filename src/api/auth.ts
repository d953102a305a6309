/**
 * Bearer-token checks. Tokens are kept only as SHA-256 hashes and compared in constant time;
 * neither the token nor its hash is ever logged. (A plain hash suffices: tokens are 256-bit
 * random secrets, not passwords, so there is nothing for a slow hash to protect.)
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** A new admin token: a prefix a secret scanner can spot, then 256 random bits. */
export function newAdminToken(): string {
  return "ferry_admin_" + randomBytes(32).toString("base64url");
}

export function tokenMatches(token: string, hash: Buffer): boolean {
  return timingSafeEqual(hashToken(token), hash);
}

const CHALLENGE = { "www-authenticate": 'Bearer realm="ferry"' };

/** The bearer token of a request; throws 401 missing_token when there is none. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) {
    throw new ApiError("missing_token", "Send the header Authorization: Bearer <token>.", { headers: CHALLENGE });
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new ApiError("missing_token", 'The Authorization header must read "Bearer <token>".', { headers: CHALLENGE });
  }
  return match[1] as string;
}

/** Checks that a request carries the admin token. */
export function requireAdmin(adminTokenHash: Buffer) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!tokenMatches(bearerToken(request), adminTokenHash)) {
      throw new ApiError("invalid_token", "The token is not valid. Use the admin token printed on first start, or FERRY_ADMIN_TOKEN.", {
        headers: CHALLENGE,
      });
    }
  };
}
