/**
 * Tests never resolve outside names: with FERRY_TEST_ONLY_LOCAL_DNS (which the harness and
 * the spawned processes set), the sender resolves `localhost` only, refuses any other name
 * without a query, and `ferry start` fails loudly, its delivery thread included. Every name
 * here is refused before DNS is asked, so nothing leaves this machine.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Sender, localOnlyLookup } from "../src/delivery/sender.js";
import { startReceiver } from "../src/receiver.js";
import { tempDir, testConfig } from "./support/harness.js";
import { ingest, killAll, startServer } from "./support/processes.js";

const send = (sender: Sender, url: string) =>
  sender.send({ method: "GET", url, headers: {}, body: undefined, timeoutMs: 5000 });

describe("localOnlyLookup in the sender", () => {
  for (const allowPrivate of [true, false]) {
    test(`refuses an outside name, resolves localhost (private destinations ${allowPrivate ? "allowed" : "refused"})`, async (t) => {
      const refused: string[] = [];
      const sender = new Sender({ connectionsPerOrigin: 2, responseBodyBytes: 100, allowPrivate, allowlist: undefined, lookup: localOnlyLookup((err) => refused.push(err.message)) });
      const receiver = await startReceiver();
      t.after(async () => {
        await sender.close();
        await receiver.close();
      });
      const outside = await send(sender, "http://partner.example/hook");
      assert.deepEqual(outside.result.kind === "error" && outside.result.code, "dns_failure");
      assert.match(outside.errorMessage ?? "", /FERRY_TEST_ONLY_LOCAL_DNS is set: tests may resolve only localhost, and "partner\.example"/);
      assert.equal(refused.length, 1);
      const local = await send(sender, `http://localhost:${new URL(receiver.url).port}/hook`);
      if (allowPrivate) {
        assert.deepEqual(local.result, { kind: "response", status: 200, retryAfter: undefined });
        assert.equal(receiver.count(), 1);
      } else {
        // localhost was resolved (the guard saw its loopback address) and then refused.
        assert.match(local.errorMessage ?? "", /^localhost \((127\.0\.0\.1|::1)\) is a loopback address/);
      }
      assert.equal(refused.length, 1, "localhost is not refused");
    });
  }

  test("the test config turns it on", () => {
    assert.equal(testConfig().test_only_local_dns, true);
  });
});

describe("ferry start with FERRY_TEST_ONLY_LOCAL_DNS", () => {
  after(killAll);

  test("fails loudly when its delivery thread is asked to resolve an outside name", async (t) => {
    const token = "test-admin-token-0123456789";
    const dir = tempDir();
    t.after(dir.cleanup);
    const server = await startServer("start", { FERRY_ADMIN_TOKEN: token, FERRY_DATA_DIR: dir.path, FERRY_RETRY_BASE_MS: "10" });
    const res = await ingest(server.url, token, { endpoint: { url: "http://partner.example/hook" }, data: [{}] });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const exit = await Promise.race([server.exited, new Promise<"running">((r) => setTimeout(() => r("running"), 10_000))]);
    assert.notEqual(exit, "running", "ferry kept running");
    assert.notEqual((exit as { code: number | null }).code, 0);
    assert.match(server.stdout() + server.stderr(), /FERRY_TEST_ONLY_LOCAL_DNS is set: tests may resolve only localhost, and \\"?partner\.example/);
  });
});
