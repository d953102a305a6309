/**
 * An account's tokens; the admin, or a token of that account, may manage them:
 *   POST   /v1/accounts/{id}/tokens             {name?} → 201 {"id","token","name","created_at"}
 *                                               (the secret is shown this once; only its hash is kept)
 *   GET    /v1/accounts/{id}/tokens             {"data":[{"id","name","created_at","revoked_at"}]}
 *   DELETE /v1/accounts/{id}/tokens/{token_id}  revokes it → 204; it stops working at once here,
 *                                               within TOKEN_CACHE_MS in other processes
 */
import type { FastifyInstance } from "fastify";
import type { Stores } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { newTokenId } from "../core/ids.js";
import type { Token } from "../core/types.js";
import { hashToken, newAccountToken, type TokenCache } from "./auth.js";
import { accessibleAccount, iso, stored } from "./common.js";
import { checkObjectBody, stringField } from "./validate.js";

export function tokenView(t: Token): Record<string, unknown> {
  return { id: t.id, name: t.name, created_at: iso(t.createdAt), revoked_at: iso(t.revokedAt) };
}

export function tokenRoutes(app: FastifyInstance, deps: { stores: Stores; tokenCache: TokenCache }): void {
  const store = deps.stores.accounts;

  app.post<{ Params: { id: string } }>("/v1/accounts/:id/tokens", async (request, reply) => {
    const account = await accessibleAccount(request, store, request.params.id);
    // No body at all is fine: a token needs no name.
    const body = request.body === undefined || request.body === null ? {} : checkObjectBody(request.body, ["name"], '{"name":"production"}');
    const name = body["name"] === undefined ? null : stringField(body["name"], "name", 200, true);
    const now = Date.now();
    const secret = newAccountToken();
    const token: Token = { id: newTokenId(now), accountId: account.id, name, createdAt: now, revokedAt: null };
    await stored(store.createToken(token, hashToken(secret)));
    reply.code(201);
    return { id: token.id, token: secret, name: token.name, created_at: iso(token.createdAt) };
  });

  app.get<{ Params: { id: string } }>("/v1/accounts/:id/tokens", async (request) => {
    const account = await accessibleAccount(request, store, request.params.id);
    const tokens = await stored(store.listTokens(account.id));
    return { data: tokens.map(tokenView) };
  });

  app.delete<{ Params: { id: string; token_id: string } }>("/v1/accounts/:id/tokens/:token_id", async (request, reply) => {
    const account = await accessibleAccount(request, store, request.params.id);
    const tokenId = request.params.token_id;
    const revoked = await stored(store.revokeToken(account.id, tokenId, Date.now()));
    if (!revoked) {
      throw new ApiError("token_not_found", `Account ${account.id} has no token ${JSON.stringify(tokenId.slice(0, 100))}; GET /v1/accounts/${account.id}/tokens lists them.`);
    }
    deps.tokenCache.forgetToken(tokenId);
    return reply.code(204).send();
  });
}
