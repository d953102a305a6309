/** Derived tokens (src/app/derived-tokens.ts): the same token again from the same key, hashes only stored. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { deriveAccountToken, ensureDerivedToken } from "../src/app/derived-tokens.js";
import { ACCOUNT_TOKEN_PREFIX, hashToken } from "../src/app/tokens.js";
import { createAccount } from "../src/app/accounts.js";
import { callerForToken, TokenCache } from "../src/api/auth.js";
import { startPipeline, ADMIN_TOKEN, type Pipeline } from "./support/harness.js";

let p: Pipeline;
before(async () => {
  p = await startPipeline({}, { worker: false });
});
after(() => p.stop());

test("a derived token is an account token, the same for the same key and purpose, different otherwise", () => {
  const t = deriveAccountToken("registration-token-0123456789", "ads:user-1");
  assert.ok(t.startsWith(ACCOUNT_TOKEN_PREFIX));
  assert.equal(deriveAccountToken("registration-token-0123456789", "ads:user-1"), t);
  assert.notEqual(deriveAccountToken("registration-token-0123456789", "ads:user-2"), t);
  assert.notEqual(deriveAccountToken("another-registration-token", "ads:user-1"), t);
});

test("ensureDerivedToken stores the token's hash once; it then authenticates as the account; revoked stays revoked", async () => {
  const ports = p.backends;
  const account = await createAccount(ports, { name: "User 1" });
  const token = deriveAccountToken("registration-token-0123456789", `ads:${account.id}`);
  assert.equal(await ensureDerivedToken(ports, account.id, token, "ads"), "live");
  assert.equal(await ensureDerivedToken(ports, account.id, token, "ads"), "live", "again: no second token");
  const tokens = await ports.stores.accounts.listTokens(account.id);
  assert.equal(tokens.length, 1);
  const stored = await ports.stores.accounts.findToken(hashToken(token));
  assert.equal(stored?.id, tokens[0]!.id);
  const deps = { adminTokenHash: hashToken(ADMIN_TOKEN), stores: ports.stores, tokenCache: new TokenCache() };
  assert.deepEqual(await callerForToken(deps, token), { kind: "account", accountId: account.id, tokenId: tokens[0]!.id });
  assert.deepEqual(await callerForToken(deps, ADMIN_TOKEN), { kind: "admin" });
  await assert.rejects(callerForToken(deps, ACCOUNT_TOKEN_PREFIX + "nope"), { code: "invalid_token" });
  await ports.stores.accounts.revokeToken(account.id, tokens[0]!.id, Date.now());
  assert.equal(await ensureDerivedToken(ports, account.id, token, "ads"), "revoked");
  assert.equal((await ports.stores.accounts.listTokens(account.id)).length, 1, "not made again");
});
