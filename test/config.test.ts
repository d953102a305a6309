/**
 * Settings (src/config.ts): defaults, FERRY_* variables, the FERRY_CONFIG file, and messages
 * that name the setting at fault without ever echoing a secret.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, SETTINGS, envName, loadConfig } from "../src/config.js";
import { tempDir } from "./support/harness.js";

/** The ConfigError loadConfig throws; fails the test when it returns instead. */
function configError(env: NodeJS.ProcessEnv, overrides = {}): ConfigError {
  try {
    loadConfig(env, overrides);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

/** A FERRY_CONFIG file with this text, removed after the test. */
function configFile(t: { after(fn: () => void): void }, text: string): string {
  const dir = tempDir("ferry-config-");
  t.after(() => dir.cleanup());
  const path = join(dir.path, "ferry.json");
  writeFileSync(path, text);
  return path;
}

test("with no environment every setting has its documented default", () => {
  const config = loadConfig({});
  for (const [name, spec] of Object.entries(SETTINGS)) {
    const want = "default" in spec ? spec.default : undefined;
    assert.equal(config[name as keyof typeof config], want, name);
  }
  assert.equal(config.port, 8080);
  assert.equal(config.max_attempts, 12);
  assert.equal(config.timeout_ms, 10_000);
  assert.equal(config.lease_ms, 60_000);
  assert.equal(config.log_level, "info");
  assert.equal(config.default_value, "");
  assert.equal(config.admin_token, undefined);
  assert.equal(config.proxy_url, undefined);
});

test("FERRY_* variables are read and coerced to their types", () => {
  const config = loadConfig({
    FERRY_PORT: "9000",
    FERRY_HOST: "127.0.0.1",
    FERRY_MAX_ATTEMPTS: " 3 ",
    FERRY_TIMEOUT_MS: "2000",
    FERRY_LEASE_MS: "4000",
    FERRY_LOG_LEVEL: "debug",
    FERRY_SQLITE_SYNCHRONOUS: "full",
    FERRY_DEFAULT_VALUE: "n/a",
    FERRY_ADMIN_TOKEN: "a-token-of-at-least-16-chars",
    FERRY_PROXY_URL: "http://127.0.0.1:3128",
  });
  assert.equal(config.port, 9000);
  assert.equal(typeof config.port, "number");
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.max_attempts, 3);
  assert.equal(config.timeout_ms, 2000);
  assert.equal(config.lease_ms, 4000);
  assert.equal(config.log_level, "debug");
  assert.equal(config.sqlite_synchronous, "full");
  assert.equal(config.default_value, "n/a");
  assert.equal(config.admin_token, "a-token-of-at-least-16-chars");
  assert.equal(config.proxy_url, "http://127.0.0.1:3128");
});

test("an empty variable counts as unset", () => {
  const config = loadConfig({ FERRY_PORT: "", FERRY_LOG_LEVEL: "" });
  assert.equal(config.port, 8080);
  assert.equal(config.log_level, "info");
});

test("variables that are not FERRY_* settings are ignored", () => {
  const config = loadConfig({ PORT: "1", FERRY_: "x", HOME: "/root" });
  assert.equal(config.port, 8080);
});

test("overrides win over the environment", () => {
  const config = loadConfig({ FERRY_PORT: "9000", FERRY_LOG_LEVEL: "debug" }, { port: 1234 });
  assert.equal(config.port, 1234);
  assert.equal(config.log_level, "debug");
});

const BAD_VALUES: [variable: string, value: string, says: RegExp][] = [
  ["FERRY_PORT", "abc", /whole number from 0 to 65535/],
  ["FERRY_PORT", "70000", /whole number from 0 to 65535/],
  ["FERRY_PORT", "80.5", /whole number/],
  ["FERRY_PORT", "1e3", /whole number/],
  ["FERRY_PORT", "0x50", /whole number/],
  ["FERRY_MAX_ATTEMPTS", "0", /from 1 to 100/],
  ["FERRY_MAX_ATTEMPTS", "101", /from 1 to 100/],
  ["FERRY_MAX_ATTEMPTS", "-3", /from 1 to 100/],
  ["FERRY_MAX_BODY_BYTES", "10", /from 1024/],
  ["FERRY_LOG_LEVEL", "loud", /one of fatal, error, warn, info, debug, trace, silent/],
  ["FERRY_LOG_LEVEL", "INFO", /one of/],
  ["FERRY_SQLITE_SYNCHRONOUS", "off", /one of normal, full/],
  ["FERRY_ADMIN_TOKEN", "short", /at least 16 characters/],
];

for (const [variable, value, says] of BAD_VALUES) {
  test(`${variable}=${value} is refused with a ConfigError naming ${variable}`, () => {
    const err = configError({ [variable]: value });
    assert.ok(err.message.includes(variable), `message does not name ${variable}: ${err.message}`);
    assert.match(err.message, says);
  });
}

test("a ConfigError shows the bad value it got (when not secret)", () => {
  assert.match(configError({ FERRY_PORT: "abc" }).message, /got "abc"/);
});

test("every bad variable is named at once, not only the first", () => {
  const err = configError({ FERRY_PORT: "abc", FERRY_LOG_LEVEL: "loud", FERRY_CONCURRENCY: "0" });
  for (const variable of ["FERRY_PORT", "FERRY_LOG_LEVEL", "FERRY_CONCURRENCY"]) {
    assert.ok(err.message.includes(variable), `message does not name ${variable}: ${err.message}`);
  }
});

test("every int setting refuses a non-number with its own variable name", () => {
  for (const [name, spec] of Object.entries(SETTINGS)) {
    if (spec.kind !== "int") continue;
    const variable = envName(name);
    const err = configError({ [variable]: "not-a-number" });
    assert.ok(err.message.startsWith(variable + ":"), `${variable}: ${err.message}`);
  }
});

test("FERRY_CONFIG names a JSON file whose keys are setting names", (t) => {
  const path = configFile(t, JSON.stringify({ port: 9100, log_level: "warn", max_attempts: "7", default_value: "none" }));
  const config = loadConfig({ FERRY_CONFIG: path });
  assert.equal(config.port, 9100);
  assert.equal(config.log_level, "warn");
  assert.equal(config.max_attempts, 7);
  assert.equal(config.default_value, "none");
  assert.equal(config.timeout_ms, 10_000, "unset keys keep their default");
});

test("a FERRY_* variable wins over the same setting in the FERRY_CONFIG file", (t) => {
  const path = configFile(t, JSON.stringify({ port: 9100, log_level: "warn" }));
  const config = loadConfig({ FERRY_CONFIG: path, FERRY_PORT: "9200" });
  assert.equal(config.port, 9200);
  assert.equal(config.log_level, "warn");
});

test("an unknown key in the FERRY_CONFIG file is an error naming the key", (t) => {
  const path = configFile(t, JSON.stringify({ port: 9100, prot: 9200 }));
  const err = configError({ FERRY_CONFIG: path });
  assert.match(err.message, /unknown setting "prot"/);
  assert.ok(err.message.includes(path), "the message names the file");
});

test("an env-style name in the file is unknown: the file takes setting names", (t) => {
  const path = configFile(t, JSON.stringify({ FERRY_PORT: 9100 }));
  assert.match(configError({ FERRY_CONFIG: path }).message, /unknown setting "FERRY_PORT"/);
});

test("a bad value in the FERRY_CONFIG file names the key and the file", (t) => {
  const path = configFile(t, JSON.stringify({ port: "abc", max_attempts: 1.5, log_level: 3 }));
  const err = configError({ FERRY_CONFIG: path });
  assert.ok(err.message.includes(`port in ${path}`), err.message);
  assert.ok(err.message.includes(`max_attempts in ${path}`), err.message);
  assert.ok(err.message.includes(`log_level in ${path}`), err.message);
});

test("a FERRY_CONFIG file that cannot be read is a ConfigError naming FERRY_CONFIG", (t) => {
  const dir = tempDir("ferry-config-");
  t.after(() => dir.cleanup());
  assert.match(configError({ FERRY_CONFIG: join(dir.path, "missing.json") }).message, /^FERRY_CONFIG=.*missing\.json: cannot read it/);
  assert.match(configError({ FERRY_CONFIG: configFile(t, "{ not json") }).message, /^FERRY_CONFIG=.*not valid JSON/);
  assert.match(configError({ FERRY_CONFIG: configFile(t, "[1, 2]") }).message, /^FERRY_CONFIG=.*JSON object/);
  assert.match(configError({ FERRY_CONFIG: configFile(t, "null") }).message, /^FERRY_CONFIG=.*JSON object/);
});

test("lease_ms shorter than twice timeout_ms is refused, naming both", () => {
  const err = configError({ FERRY_TIMEOUT_MS: "6000", FERRY_LEASE_MS: "10000" });
  assert.match(err.message, /FERRY_LEASE_MS \(10000\)/);
  assert.match(err.message, /FERRY_TIMEOUT_MS \(6000\)/);
  // the default lease with a long timeout breaks the rule too
  assert.match(configError({ FERRY_TIMEOUT_MS: "40000" }).message, /FERRY_LEASE_MS/);
});

test("lease_ms of exactly twice timeout_ms is accepted", () => {
  const config = loadConfig({ FERRY_TIMEOUT_MS: "5000", FERRY_LEASE_MS: "10000" });
  assert.equal(config.lease_ms, 10_000);
});

const SECRET = "s3cr3t-admin-VALUE-do-not-print";

test("an admin token too short is refused without echoing it", () => {
  const secret = "s3cr3t-SHORT";
  const err = configError({ FERRY_ADMIN_TOKEN: secret });
  assert.match(err.message, /FERRY_ADMIN_TOKEN/);
  assert.ok(!err.message.includes(secret), `the token was echoed: ${err.message}`);
  assert.ok(!err.message.includes("s3cr3t"), `part of the token was echoed: ${err.message}`);
});

test("an admin token in the FERRY_CONFIG file is never echoed, whatever else is wrong", (t) => {
  const cases = [
    // a valid token next to other errors
    JSON.stringify({ admin_token: SECRET, port: "abc", bogus: 1 }),
    // a token of the wrong type
    JSON.stringify({ admin_token: ["s3cr3t", SECRET] }),
    // a file that is not JSON, with the fault right after the token (JSON.parse quotes nearby text)
    `{"admin_token": ${SECRET}}`,
    `{"admin_token": "${SECRET}" "port": 1}`,
    `{"port": 1, "admin_token": "${SECRET}",}`,
    `{"admin_token": "${SECRET}`,
  ];
  for (const text of cases) {
    const err = configError({ FERRY_CONFIG: configFile(t, text) });
    assert.ok(!err.message.includes("s3cr3t"), `the token leaked for file ${text}: ${err.message}`);
    assert.ok(!/VALUE|do-not|admin-V/.test(err.message), `part of the token leaked for file ${text}: ${err.message}`);
  }
});

test("an admin token from the environment is not echoed when other settings fail", () => {
  const err = configError({ FERRY_ADMIN_TOKEN: SECRET, FERRY_PORT: "abc", FERRY_TIMEOUT_MS: "60000" });
  assert.ok(!err.message.includes("s3cr3t"), err.message);
  const lease = configError({ FERRY_ADMIN_TOKEN: SECRET, FERRY_TIMEOUT_MS: "40000" });
  assert.ok(!lease.message.includes("s3cr3t"), lease.message);
});

test("FERRY_PROXY_URL must be an http:// URL", () => {
  assert.equal(loadConfig({ FERRY_PROXY_URL: "http://127.0.0.1:3128" }).proxy_url, "http://127.0.0.1:3128");
  const err = configError({ FERRY_PROXY_URL: "ftp://proxy" });
  assert.match(err.message, /FERRY_PROXY_URL/);
  assert.match(err.message, /http:\/\//);
});

// FERRY_DESTINATION_ALLOWLIST is parsed once, here; the delivery worker uses config.allowlist
// and never parses the text again.

test("FERRY_DESTINATION_ALLOWLIST is parsed once at load: config.allowlist holds its hosts and ranges", () => {
  assert.equal(loadConfig({}).allowlist, undefined, "unset: no allow-list");
  const config = loadConfig({ FERRY_DESTINATION_ALLOWLIST: " Receiver.Internal, 10.1.0.0/16 ,fd00::1" });
  assert.equal(config.destination_allowlist, " Receiver.Internal, 10.1.0.0/16 ,fd00::1", "the setting keeps its text");
  const list = config.allowlist;
  assert.ok(list, "parsed");
  assert.deepEqual([...list.hosts], ["receiver.internal"]);
  assert.equal(list.nets.check("10.1.200.3", "ipv4"), true);
  assert.equal(list.nets.check("10.2.0.1", "ipv4"), false);
  assert.equal(list.nets.check("fd00::1", "ipv6"), true);
});

test("the allow-list in the FERRY_CONFIG file is parsed too", (t) => {
  const path = configFile(t, JSON.stringify({ destination_allowlist: "192.168.7.0/24" }));
  assert.equal(loadConfig({ FERRY_CONFIG: path }).allowlist?.nets.check("192.168.7.9", "ipv4"), true);
});

test("config.allowlist always follows destination_allowlist: an override of the parsed form is ignored", () => {
  const fake = loadConfig({ FERRY_DESTINATION_ALLOWLIST: "10.0.0.0/8" }).allowlist;
  assert.equal(loadConfig({}, { allowlist: fake }).allowlist, undefined);
  const config = loadConfig({ FERRY_DESTINATION_ALLOWLIST: "10.0.0.0/8" }, { destination_allowlist: "receiver.internal" });
  assert.deepEqual([...config.allowlist!.hosts], ["receiver.internal"]);
  assert.equal(config.allowlist!.nets.check("10.0.0.1", "ipv4"), false, "the overridden variable is not parsed");
});

test("a bad allow-list stops loading with a ConfigError naming FERRY_DESTINATION_ALLOWLIST and the entry", (t) => {
  const err = configError({ FERRY_DESTINATION_ALLOWLIST: "receiver.internal, 10.0.0.0/40" });
  assert.match(err.message, /^FERRY_DESTINATION_ALLOWLIST: "10\.0\.0\.0\/40" is not an IP address or CIDR range/);
  const path = configFile(t, JSON.stringify({ destination_allowlist: "http://x" }));
  assert.match(configError({ FERRY_CONFIG: path }).message, /FERRY_DESTINATION_ALLOWLIST: "http:\/\/x" is not/);
  assert.match(configError({}, { destination_allowlist: "a b" }).message, /FERRY_DESTINATION_ALLOWLIST: "a b" is not/);
});

test("the parsed allow-list survives the copy that carries the config to the delivery thread", () => {
  // `ferry start` hands the config to the worker thread as workerData, a structured clone.
  const copy = structuredClone(loadConfig({ FERRY_DESTINATION_ALLOWLIST: "receiver.internal,10.1.0.0/16" }));
  const list = copy.allowlist;
  assert.ok(list, "still there");
  assert.ok(list.hosts.has("receiver.internal"));
  assert.equal(list.nets.check("10.1.2.3", "ipv4"), true);
  assert.equal(list.nets.check("10.9.2.3", "ipv4"), false);
});

test("a length of time takes a unit or plain milliseconds: FERRY_EVENT_RETENTION", () => {
  const ms = (value: string) => loadConfig({ FERRY_EVENT_RETENTION: value }).event_retention;
  assert.equal(loadConfig({}).event_retention, 30 * 24 * 3_600_000, "30 days by default");
  assert.equal(ms("30d"), 30 * 24 * 3_600_000);
  assert.equal(ms("12h"), 12 * 3_600_000);
  assert.equal(ms("90m"), 90 * 60_000);
  assert.equal(ms("45s"), 45_000);
  assert.equal(ms("500ms"), 500);
  assert.equal(ms("86400000"), 86_400_000);
  assert.equal(ms("0"), 0, "0 keeps events forever");
  for (const bad of ["30 days", "1.5h", "-1d", "d", "30D", "1y"]) {
    assert.match(configError({ FERRY_EVENT_RETENTION: bad }).message, /^FERRY_EVENT_RETENTION: must be a length of time such as 30d/, bad);
  }
});

test("FERRY_COMPAT is a list of known seed systems; an unknown one is named", () => {
  assert.deepEqual(loadConfig({}).compatSystems, []);
  assert.deepEqual(loadConfig({ FERRY_COMPAT: " Data-Pusher, ads ,ads," }).compatSystems, ["data-pusher", "ads"]);
  assert.throws(() => loadConfig({ FERRY_COMPAT: "data-pusher,teravoz" }), (err: Error) => err instanceof ConfigError && /FERRY_COMPAT: unknown system "teravoz"/.test(err.message));
});

test("FERRY_TRUSTED_NETWORKS and FERRY_TRUSTED_PROXIES take IPs and CIDR ranges, never host names", () => {
  const config = loadConfig({ FERRY_TRUSTED_NETWORKS: "10.0.0.0/8, 127.0.0.1,::1", FERRY_TRUSTED_PROXIES: "192.168.1.10,fd00::/8" });
  assert.ok(config.trustedNetworks?.check("10.1.2.3", "ipv4"));
  assert.ok(config.trustedNetworks?.check("127.0.0.1", "ipv4"));
  assert.ok(!config.trustedNetworks?.check("127.0.0.2", "ipv4"));
  assert.ok(config.trustedNetworks?.check("::1", "ipv6"));
  assert.deepEqual(config.trustedProxies, ["192.168.1.10", "fd00::/8"]);
  assert.equal(loadConfig({}).trustedNetworks, undefined);
  assert.deepEqual(loadConfig({}).trustedProxies, []);
  for (const bad of ["proxy.internal", "10.0.0.0/33", "10.0.0.0/8/1", "1.2.3.4/-1"]) {
    assert.throws(() => loadConfig({ FERRY_TRUSTED_NETWORKS: bad }), (err: Error) => err instanceof ConfigError && err.message.startsWith("FERRY_TRUSTED_NETWORKS:"), bad);
  }
  assert.throws(() => loadConfig({ FERRY_TRUSTED_PROXIES: "lb" }), /FERRY_TRUSTED_PROXIES/);
  assert.throws(() => loadConfig({ FERRY_TRUSTED_ACCOUNT: "acme" }), /FERRY_TRUSTED_ACCOUNT: must be an account id/);
});
