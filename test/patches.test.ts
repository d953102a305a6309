/** How a patch changes an account or a destination (src/core/patches.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { patchAccount, patchDestination } from "../src/core/patches.js";
import type { Account, Destination } from "../src/core/types.js";

const T0 = Date.UTC(2024, 0, 1);
const account: Account = { id: "acct_1", name: "Acme", email: "ops@acme.example", website: null, externalId: null, metadata: { plan: "pro" }, dedupeWindowMs: 0, strictEventTypes: false, eventRetentionMs: null, createdAt: T0, updatedAt: T0 };
const destination: Destination = {
  id: "dst_1",
  accountId: "acct_1",
  url: "https://partner.example/{event}",
  method: "POST",
  headers: {},
  eventTypes: [],
  enabled: true,
  disabledReason: null,
  disabledAt: null,
  timeoutMs: null,
  maxAttempts: 5,
  defaultValue: null,
  rateLimit: null,
  concurrency: null,
  failureThreshold: 3,
  failureWindowMs: 60_000,
  onDisable: "hold",
  rateLimitBurst: null,
  ordering: "none",
  orderingKey: null,
  pausedUntil: null,
  pauseReason: null,
  secret: "whsec_x",
  createdAt: T0,
  updatedAt: T0,
};

test("an account patch sets the fields given (null too), skips undefined ones, and sets updatedAt", () => {
  const patched = patchAccount(account, { name: "Acme Ltd", email: null, website: undefined }, T0 + 5);
  assert.deepEqual(patched, { ...account, name: "Acme Ltd", email: null, updatedAt: T0 + 5 });
  assert.deepEqual(account.name, "Acme", "the account passed in is not changed");
});

test("fields a patch may not change stay as they were", () => {
  const sneaky = { id: "acct_other", createdAt: 0 } as unknown as Parameters<typeof patchAccount>[1];
  assert.deepEqual(patchAccount(account, sneaky, T0 + 1), { ...account, updatedAt: T0 + 1 });
  const sneakyDst = { accountId: "acct_other", id: "dst_other" } as unknown as Parameters<typeof patchDestination>[1];
  assert.deepEqual(patchDestination(destination, sneakyDst, T0 + 1).destination, { ...destination, updatedAt: T0 + 1 });
});

test("disabling sets disabledAt to now unless the patch says when; the count is kept", () => {
  assert.deepEqual(patchDestination(destination, { enabled: false }, T0 + 7), {
    destination: { ...destination, enabled: false, disabledAt: T0 + 7, updatedAt: T0 + 7 },
    clearFailures: false,
  });
  assert.equal(patchDestination(destination, { enabled: false, disabledAt: T0 + 3 }, T0 + 7).destination.disabledAt, T0 + 3);
  const off = { ...destination, enabled: false, disabledAt: T0 + 2, disabledReason: "paused" };
  assert.equal(patchDestination(off, { enabled: false }, T0 + 9).destination.disabledAt, T0 + 2, "disabled since then already");
});

test("enabling clears the reason, the time and the failure count, even when enabled already", () => {
  const off = { ...destination, enabled: false, disabledAt: T0 + 2, disabledReason: "3 failed attempts within 1m" };
  assert.deepEqual(patchDestination(off, { enabled: true }, T0 + 9), { destination: { ...destination, updatedAt: T0 + 9 }, clearFailures: true });
  assert.equal(patchDestination(destination, { enabled: true }, T0 + 9).clearFailures, true);
  assert.equal(patchDestination(destination, { url: "https://x.example/" }, T0 + 9).clearFailures, false);
});
