/**
 * The private-destination guard, end to end: a real API and worker on a temp SQLite file and a
 * real receiver on 127.0.0.1, which is exactly what the guard refuses by default.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import { allowsAddress, classifyAddress, parseAllowlist } from "../src/core/addresses.js";
import { loadConfig, ConfigError } from "../src/config.js";
import type { Config } from "../src/config.js";

describe("classifyAddress", () => {
  const cases: [string, string | undefined][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["[::ffff:7f00:1]", "loopback"],
    ["0:0:0:0:0:ffff:a00:1", "private"],
    ["64:ff9b::a9fe:a9fe", "metadata"],
    ["::ffff:808:808", undefined],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["fd12:3456::1", "private"],
    ["169.254.169.254", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["100.100.100.200", "metadata"],
    ["169.254.1.1", "link_local"],
    ["fe80::1", "link_local"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["100.64.0.1", "shared"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["8.8.8.8", undefined],
    ["172.32.0.1", undefined],
    ["93.184.216.34", undefined],
    ["2606:4700::1111", undefined],
    ["::ffff:8.8.8.8", undefined],
    ["example.com", undefined],
  ];
  for (const [address, expected] of cases) {
    test(`${address} is ${expected ?? "public"}`, () => assert.equal(classifyAddress(address), expected));
  }
});

describe("parseAllowlist", () => {
  test("takes host names, IPs and CIDR ranges, with spaces and any case", () => {
    const list = parseAllowlist(" Receiver.Internal, 10.1.2.3 ,192.168.0.0/16, fd00::/8,");
    assert.deepEqual([...list.hosts], ["receiver.internal"]);
    assert.ok(allowsAddress(list, "10.1.2.3"));
    assert.ok(!allowsAddress(list, "10.1.2.4"));
    assert.ok(allowsAddress(list, "192.168.77.1"));
    assert.ok(allowsAddress(list, "fd00::5"));
  });
  for (const bad of ["10.0.0.0/33", "http://x", "a b", "10.0.0.1/8/2", "::/129"]) {
    test(`refuses ${JSON.stringify(bad)}, naming it`, () => assert.throws(() => parseAllowlist(bad), new RegExp(bad.replace(/[/.*+?^${}()|[\]\\]/g, "\\$&"))));
  }
  test("a bad FERRY_DESTINATION_ALLOWLIST stops start-up with a line naming it", () => {
    assert.throws(
      () => loadConfig({ FERRY_DESTINATION_ALLOWLIST: "10.0.0.0/40" }),
      (err: unknown) => err instanceof ConfigError && /^FERRY_DESTINATION_ALLOWLIST: "10\.0\.0\.0\/40" is not/.test(err.message),
    );
  });
});

interface View {
  state: string;
  reason: string | null;
  attempts: { error: string | null; error_message: string | null; status_code: number | null }[];
}

async function finalView(p: Pipeline, id: string): Promise<View> {
  return eventually(async () => {
    const res = await p.app.inject({ method: "GET", url: `/v1/postbacks/${id}`, headers: AUTH });
    const v = res.json() as View;
    return v.state === "delivered" || v.state === "dead" ? v : undefined;
  }) as Promise<View>;
}

async function deliverOne(settings: Partial<Config>, url: (r: Receiver) => string): Promise<{ view: View; received: number }> {
  const receiver = await startReceiver();
  const p = await startPipeline(settings);
  try {
    const res = await p.ingest({ endpoint: { url: url(receiver) }, data: [{ n: 1 }] });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const view = await finalView(p, res.body.ids[0]);
    return { view, received: receiver.count() };
  } finally {
    await p.stop();
    await receiver.close();
  }
}

describe("private destinations at delivery time", () => {
  const port = (r: Receiver) => new URL(r.url).port;

  test("refused by default: dead at once with destination_refused, nothing sent", async () => {
    const { view, received } = await deliverOne({ allow_private_destinations: false }, (r) => `${r.url}/x?n={n}`);
    assert.equal(received, 0);
    assert.equal(view.state, "dead");
    assert.equal(view.reason, "destination_refused");
    assert.equal(view.attempts.length, 1, "not retried");
    assert.equal(view.attempts[0]!.error, "destination_refused");
    assert.equal(view.attempts[0]!.status_code, null);
    assert.match(view.attempts[0]!.error_message!, /127\.0\.0\.1 is a loopback address; set FERRY_ALLOW_PRIVATE_DESTINATIONS=true or list it in FERRY_DESTINATION_ALLOWLIST/);
  });

  test("a host name that resolves to a private address is refused too (checked after DNS)", async () => {
    const { view, received } = await deliverOne({ allow_private_destinations: false }, (r) => `http://localhost:${port(r)}/x?n={n}`);
    assert.equal(received, 0);
    assert.equal(view.reason, "destination_refused");
    assert.match(view.attempts[0]!.error_message!, /^localhost \((127\.0\.0\.1|::1)\) is a loopback address/);
  });

  test("an IPv6 literal and an IPv4-mapped one are refused", async () => {
    for (const host of ["[::1]", "[::ffff:127.0.0.1]"]) {
      const { view, received } = await deliverOne({ allow_private_destinations: false }, (r) => `http://${host}:${port(r)}/x?n={n}`);
      assert.equal(received, 0, host);
      assert.equal(view.reason, "destination_refused", host);
    }
  });

  test("delivered when FERRY_ALLOW_PRIVATE_DESTINATIONS is on", async () => {
    const { view, received } = await deliverOne({ allow_private_destinations: true }, (r) => `${r.url}/x?n={n}`);
    assert.equal(view.state, "delivered");
    assert.equal(received, 1);
  });

  test("delivered when the allow-list names the address, a range holding it, or the host name", async () => {
    for (const [allowlist, host] of [
      ["127.0.0.1", "127.0.0.1"],
      ["10.0.0.0/8, 127.0.0.0/8", "127.0.0.1"],
      ["localhost", "localhost"],
    ] as const) {
      const { view, received } = await deliverOne({ allow_private_destinations: false, destination_allowlist: allowlist }, (r) => `http://${host}:${port(r)}/x?n={n}`);
      assert.equal(view.state, "delivered", `allow-list ${allowlist}`);
      assert.equal(received, 1, `allow-list ${allowlist}`);
    }
  });

  test("an allow-list that names another address still refuses this one", async () => {
    const { view, received } = await deliverOne({ allow_private_destinations: false, destination_allowlist: "10.9.9.9, receiver.internal" }, (r) => `${r.url}/x?n={n}`);
    assert.equal(received, 0);
    assert.equal(view.reason, "destination_refused");
  });
});
