/**
 * An account's tokens; the admin, or a token of that account, may manage them:
 *   POST   /v1/accounts/{id}/tokens             {name?} → 201 {"id","token","name","created_at"}
 *                                               (the secret is shown this once; only its hash is kept)
 *   GET    /v1/accounts/{id}/tokens             {"data":[{"id","name","created_at","revoked_at"}]}
 *   DELETE /v1/accounts/{id}/tokens/{token_id}  revokes it → 204; it stops working at once here,
 *                                               within TOKEN_CACHE_MS in other processes
 */
import type { FastifyInstance } from "fastify";
import type { Token } from "../core/types.js";
import type { Ports } from "../app/ports.js";
import { createToken, listTokens, revokeToken } from "../app/tokens.js";
import type { TokenCache } from "./auth.js";
import { accessibleAccount, iso } from "./common.js";
import { checkObjectBody, stringField } from "./validate.js";
import { createTokenSchema, listTokensSchema, revokeTokenSchema } from "./schemas/accounts.js";

export function tokenView(t: Token): Record<string, unknown> {
  return { id: t.id, name: t.name, created_at: iso(t.createdAt), revoked_at: iso(t.revokedAt) };
}

export function tokenRoutes(app: FastifyInstance, deps: Ports & { tokenCache: TokenCache }): void {
  const store = deps.stores.accounts;

  app.post<{ Params: { id: string } }>("/v1/accounts/:id/tokens", { schema: createTokenSchema }, async (request, reply) => {
    const account = await accessibleAccount(request, store, request.params.id);
    // No body at all is fine: a token needs no name.
    const body = request.body === undefined || request.body === null ? {} : checkObjectBody(request.body, ["name"], '{"name":"production"}');
    const name = body["name"] === undefined ? null : stringField(body["name"], "name", 200, true);
    const { token, secret } = await createToken(deps, account.id, name);
    reply.code(201);
    return { id: token.id, token: secret, name: token.name, created_at: iso(token.createdAt) };
  });

  app.get<{ Params: { id: string } }>("/v1/accounts/:id/tokens", { schema: listTokensSchema }, async (request) => {
    const account = await accessibleAccount(request, store, request.params.id);
    return { data: (await listTokens(deps, account.id)).map(tokenView) };
  });

  app.delete<{ Params: { id: string; token_id: string } }>("/v1/accounts/:id/tokens/:token_id", { schema: revokeTokenSchema }, async (request, reply) => {
    const account = await accessibleAccount(request, store, request.params.id);
    const tokenId = request.params.token_id;
    await revokeToken(deps, account.id, tokenId);
    deps.tokenCache.forgetToken(tokenId);
    return reply.code(204).send();
  });
}
