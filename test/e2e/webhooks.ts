/**
 * fun-with-webhooks (seed 003) end to end, its core flow: a client registers with POST /webhook,
 * its calls arrive at a real receiver as that system sent them, 3 failures (not necessarily in a
 * row) disable it, what it is owed meanwhile is dropped, and registering again enables it with
 * a clean count. The real API (inject), a real worker and real backends; each backend's test
 * file calls `webhooksSuite` once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, drained, eventually, startPipeline, type Pipeline } from "../support/harness.js";
import { startReceiver, type Receiver } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";
import { call, ok, type Call } from "../support/api.js";

export const REGISTRATION_TOKEN = "registration-token-0123456789";
export const REGISTRATION = { authorization: `Bearer ${REGISTRATION_TOKEN}` };

/** The settings every webhooks test runs with. */
export function webhooksConfig(): Partial<Config> {
  return { compat: "webhooks", registration_token: REGISTRATION_TOKEN };
}

export function register(p: Pipeline, body: unknown, headers: Record<string, string> = REGISTRATION): Promise<Call> {
  return call(p, "POST", "/webhook", body, headers);
}

/** The client's account and its destinations, as the admin sees them. */
export async function client(p: Pipeline, name: string): Promise<{ account: any; destinations: any[] }> {
  const found = ok(await call(p, "GET", `/v1/accounts?external_id=${encodeURIComponent(`webhooks:${name}`)}`), 200, "find the client's account");
  assert.equal(found.data.length, 1, `one account for ${name}: ${JSON.stringify(found)}`);
  const account = found.data[0];
  const destinations = ok(await call(p, "GET", `/v1/destinations?account_id=${account.id}`), 200, "the client's destinations").data;
  return { account, destinations };
}

/** Pushes calls to the client as `ferry demo calls` does: the admin token, type call.standby. */
export async function pushCalls(p: Pipeline, accountId: string, numbers: string[]): Promise<any> {
  const calls = numbers.map((contactNumber) => ({ type: "call.standby", contactNumber }));
  return ok(await call(p, "POST", `/v1/push?account_id=${accountId}&type=call.standby`, calls, AUTH), 202, "push calls");
}

/** A 200 with no body at all: that system's answer to a registration. */
export function registered(c: Call, what: string): void {
  assert.equal(c.status, 200, `${what}: ${JSON.stringify(c.body)}`);
  assert.equal(c.body, undefined, `${what}: an empty body`);
}

export function alreadyRegistered(c: Call, what: string): void {
  assert.equal(c.status, 400, `${what}: ${JSON.stringify(c.body)}`);
  assert.deepEqual(c.body, [{ errorCode: "ALREADY_REGISTERED", message: "There's already a client with the same name", code: "already_registered" }], what);
}

/** Numbers whose calls the receiver fails (500) carry FAIL; the others it answers 200. */
const FAIL = "0000";

export function webhooksSuite(name: string, backend: () => Partial<Config> | Promise<Partial<Config>>): void {
  describe(`fun-with-webhooks, the core flow (${name})`, () => {
    let receiver: Receiver;
    let p: Pipeline;
    before(async () => {
      receiver = await startReceiver({
        respond: (r) => (r.body.includes(FAIL) ? { status: 500, body: "down" } : undefined),
      });
      p = await startPipeline({ ...(await backend()), ...webhooksConfig() });
    });
    after(async () => {
      await p.stop();
      await receiver.close();
    });
    const arrived = (path: string) => receiver.requests.filter((r) => new URL(r.url).pathname === path);

    test("a new name registers (200, empty body) as an account and a destination set as that system treated clients", async () => {
      registered(await register(p, { name: "webhook-consumer", callbackURL: `${receiver.url}/calls` }), "register");
      const { account, destinations } = await client(p, "webhook-consumer");
      assert.equal(account.external_id, "webhooks:webhook-consumer");
      assert.equal(account.name, "webhook-consumer");
      assert.equal(destinations.length, 1);
      const d = destinations[0];
      assert.equal(d.url, `${receiver.url}/calls`);
      assert.equal(d.method, "POST");
      assert.equal(d.enabled, true);
      assert.equal(d.timeout_ms, 10_000, "10 s, the original's request-timeout-ms");
      assert.equal(d.max_attempts, 1, "one request per call");
      assert.equal(d.failure_threshold, 3);
      assert.equal(d.failure_window_ms, 0, "failures count forever");
      assert.equal(d.on_disable, "drop");
      alreadyRegistered(await register(p, { name: "webhook-consumer", callbackURL: `${receiver.url}/calls` }), "the same name again");
      alreadyRegistered(await register(p, { name: "webhook-consumer", callbackURL: `${receiver.url}/other` }), "the same name, another callback");
      assert.equal((await client(p, "webhook-consumer")).destinations.length, 1, "nothing added");
    });

    test("calls arrive at the callback as {type, contactNumber} POSTs", async () => {
      registered(await register(p, { name: "calls-client", callbackURL: `${receiver.url}/calls-client` }), "register");
      const { account } = await client(p, "calls-client");
      const pushed = await pushCalls(p, account.id, ["(11) 1111-1010", "(11) 2222-2222"]);
      assert.equal(pushed.postbacks.length, 2);
      await eventually(() => arrived("/calls-client").length === 2, 10_000, "2 calls");
      const bodies = arrived("/calls-client").map((r) => r.body).sort();
      assert.deepEqual(bodies, ['{"type":"call.standby","contactNumber":"(11) 1111-1010"}', '{"type":"call.standby","contactNumber":"(11) 2222-2222"}']);
      for (const r of arrived("/calls-client")) {
        assert.equal(r.method, "POST");
        assert.match(String(r.headers["content-type"]), /^application\/json/);
      }
    });

    test("3 failures, not in a row, disable the client; its later calls are dropped; registering again enables it with a clean count", async () => {
      const path = "/flaky";
      registered(await register(p, { name: "flaky-client", callbackURL: `${receiver.url}${path}` }), "register");
      const { account } = await client(p, "flaky-client");
      const destination = async () => (await client(p, "flaky-client")).destinations[0];
      // One call at a time, each settled before the next: fail, ok, fail, ok, fail.
      const sequence = ["(11) 0000-0001", "(11) 1111-1111", "(11) 0000-0002", "(11) 2222-2222", "(11) 0000-0003"];
      for (const [i, number] of sequence.entries()) {
        assert.equal((await destination()).enabled, true, `still enabled before call ${i + 1}`);
        await pushCalls(p, account.id, [number]);
        await eventually(() => arrived(path).length === i + 1, 10_000, `call ${i + 1}`);
        await drained(p);
      }
      const off = await eventually(async () => {
        const d = await destination();
        return d.enabled ? undefined : d;
      }, 10_000, "the client disabled");
      assert.match(off.disabled_reason, /3 failed attempts/);

      // What is owed to a disabled client is dropped: nothing queued, nothing delivered.
      const dropped = await pushCalls(p, account.id, ["(11) 3333-3333"]);
      assert.deepEqual(dropped.postbacks, [], "a push skips the disabled client");
      await drained(p);
      assert.equal(arrived(path).length, sequence.length, "no call reached it once disabled");

      // Registering again enables it, failures cleared: two more failures leave it enabled.
      registered(await register(p, { name: "flaky-client", callbackURL: `${receiver.url}${path}` }), "register again");
      const on = await destination();
      assert.equal(on.enabled, true);
      assert.equal(on.disabled_reason, null);
      assert.equal((await client(p, "flaky-client")).destinations.length, 1, "the same destination, enabled again");
      for (const number of ["(11) 0000-0004", "(11) 0000-0005"]) {
        await pushCalls(p, account.id, [number]);
        await drained(p);
      }
      await eventually(() => arrived(path).length === sequence.length + 2, 10_000, "the two failing calls");
      await drained(p);
      assert.equal((await destination()).enabled, true, "2 failures after re-enabling: the old ones no longer count");
      await pushCalls(p, account.id, ["(11) 4444-4444"]);
      await eventually(() => arrived(path).some((r) => r.body.includes("4444-4444")), 10_000, "a call after re-enabling");
      alreadyRegistered(await register(p, { name: "flaky-client", callbackURL: `${receiver.url}${path}` }), "enabled: already registered");
    });
  });
}
