/**
 * Ferry as real processes: the compiled CLI spawned on real SQLite files in temp dirs, a real
 * receiver, real signals (SIGKILL, SIGTERM). What an operator relies on: a crash loses nothing
 * acknowledged, a stop drains, a restart picks up the backlog, start-up fails loudly on a bad
 * setting, and the admin token is shown once and never logged.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "./support/harness.js";
import { freePort, ingest, killAll, since, spawnFerry, startServer, startWorker, type FerryProcess, until } from "./support/processes.js";
import { startReceiver, type ReceivedRequest } from "../src/receiver.js";

const TOKEN = "process-test-admin-token-0123456789";

after(killAll);

/** The `webhook-id` of each request, in arrival order. */
function ids(requests: ReceivedRequest[]): string[] {
  return requests.map((r) => String(r.headers["webhook-id"]));
}

/** Entries left in the data dir's queue, read from the SQLite file itself. */
function queueLength(dataDir: string): number {
  const db = new Database(join(dataDir, "ferry.db"), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM queue_entries").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Log lines at error level or worse, and anything on stderr: a clean run has none. */
function assertNoErrors(p: FerryProcess): void {
  const errors = p.logs().filter((l) => typeof l["level"] === "number" && l["level"] >= 50);
  assert.deepEqual(errors, [], `error lines in the log of pid ${p.pid}`);
  assert.equal(p.stderr(), "", `stderr of pid ${p.pid}`);
}

/** The attempt lines of a process's log. */
function attempts(p: FerryProcess): Array<Record<string, any>> {
  return p.logs().filter((l) => l["msg"] === "attempt");
}

test("a worker killed with SIGKILL mid-load loses no acknowledged postback: a second worker delivers them all", async (t) => {
  const dir = tempDir();
  const receiver = await startReceiver({ respond: () => ({ delayMs: 20 }) });
  const concurrency = 8;
  const env = {
    FERRY_DATA_DIR: dir.path,
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_LEASE_MS: "2000",
    FERRY_TIMEOUT_MS: "1000",
    FERRY_POLL_INTERVAL_MS: "20",
    FERRY_CONCURRENCY: String(concurrency),
  };
  const procs: FerryProcess[] = [];
  try {
    const api = await startServer("api", env);
    procs.push(api);
    const first = await startWorker(env);
    procs.push(first);

    const requests = 40;
    const perRequest = 10;
    const total = requests * perRequest;
    const ingests = Promise.all(
      Array.from({ length: requests }, (_, i) =>
        ingest(api.url, TOKEN, {
          endpoint: { method: "GET", url: `${receiver.url}/hit?id={n}` },
          data: Array.from({ length: perRequest }, (_, j) => ({ n: i * perRequest + j })),
        }),
      ),
    );
    void ingests.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    await until(() => receiver.count() >= 100, 15_000, () => `receiver got ${receiver.count()} requests`);
    first.signal("SIGKILL");
    const killed = await first.exited;
    const atKill = receiver.count();
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(atKill < total, `the first worker delivered all ${total} before it was killed; the test proves nothing`);

    const answers = await ingests;
    const expected = new Map<string, number>(); // postback id → its n
    answers.forEach((a, i) => {
      assert.equal(a.status, 202, JSON.stringify(a.body));
      assert.equal(a.body.ids.length, perRequest);
      a.body.ids.forEach((id: string, j: number) => expected.set(id, i * perRequest + j));
    });

    const second = await startWorker(env);
    procs.push(second);
    const seen = () => new Set(ids(receiver.requests));
    await until(
      () => [...expected.keys()].every((id) => seen().has(id)),
      20_000,
      () => `${[...expected.keys()].filter((id) => !seen().has(id)).length} of ${total} acknowledged postbacks never arrived`,
    );
    // Everything the dead worker held is redelivered or settled once its lease ends; then the queue is empty.
    await until(() => queueLength(dir.path) === 0, 10_000, () => `${queueLength(dir.path)} entries left in the queue`);

    for (const r of receiver.requests) {
      const id = String(r.headers["webhook-id"]);
      assert.ok(expected.has(id), `the receiver got an id nobody acknowledged: ${id}`);
      assert.equal(r.url, `${receiver.url}/hit?id=${expected.get(id)}`);
    }
    const duplicates = receiver.requests.length - seen().size;
    t.diagnostic(`${total} postbacks, ${atKill} received before SIGKILL, ${duplicates} duplicates after it (FERRY_CONCURRENCY=${concurrency})`);
    assert.ok(duplicates <= concurrency, `${duplicates} duplicates: more than the ${concurrency} a worker holds in flight`);

    for (const p of [second, api]) {
      const exit = await p.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, p.stderr());
    }
    for (const p of procs) assertNoErrors(p);
  } finally {
    for (const p of procs) p.signal("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await receiver.close();
    dir.cleanup();
  }
});

test("SIGTERM lets deliveries in flight finish, exits 0 within the grace period, and a restart delivers the rest", async (t) => {
  const dir = tempDir();
  const receiver = await startReceiver({ respond: () => ({ delayMs: 500 }) });
  const grace = 5000;
  const concurrency = 5;
  const env = {
    FERRY_DATA_DIR: dir.path,
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_SHUTDOWN_GRACE_MS: String(grace),
    FERRY_CONCURRENCY: String(concurrency),
  };
  let ferry: FerryProcess | undefined;
  try {
    const first = await startServer("start", env);
    ferry = first;
    const res = await ingest(first.url, TOKEN, {
      endpoint: { method: "GET", url: `${receiver.url}/hit?id={n}` },
      data: Array.from({ length: 20 }, (_, n) => ({ n })),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const all: string[] = res.body.ids;

    // The first `concurrency` postbacks reach the receiver, which holds each for 500 ms.
    await until(() => receiver.count() >= concurrency, 10_000, () => `receiver got ${receiver.count()}`);
    const t0 = Date.now();
    first.signal("SIGTERM");
    const exit = await first.exited;
    const took = since(t0);
    t.diagnostic(`exited ${JSON.stringify(exit)} ${took} ms after SIGTERM`);
    assert.deepEqual(exit, { code: 0, signal: null }, first.stderr());
    assert.ok(took < grace + 1500, `took ${took} ms to exit; the grace period is ${grace} ms`);

    // Every request that reached the receiver was answered and recorded as delivered, not cut off.
    const received = ids(receiver.requests);
    assert.ok(received.length >= concurrency);
    const delivered = new Set(attempts(first).filter((a) => a["state"] === "delivered" && a["status_code"] === 200).map((a) => a["postback_id"]));
    for (const id of received) assert.ok(delivered.has(id), `${id} was in flight at SIGTERM but not recorded as delivered`);
    assert.ok(received.length < all.length, "everything was delivered before SIGTERM; nothing was left for the restart");
    const stopped = first.logs().find((l) => l["msg"] === "worker stopped");
    assert.ok(stopped, "no 'worker stopped' line");
    assert.equal(stopped["delivered"], received.length);

    const second = await startServer("start", env);
    ferry = second;
    await until(() => new Set(ids(receiver.requests)).size >= all.length, 15_000, () => `receiver got ${receiver.count()} of ${all.length}`);
    // A clean stop settled what finished, so nothing arrives twice.
    assert.deepEqual([...ids(receiver.requests)].sort(), [...all].sort());
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
    assertNoErrors(first);
    assertNoErrors(second);
  } finally {
    ferry?.signal("SIGKILL");
    await ferry?.exited;
    await receiver.close();
    dir.cleanup();
  }
});

test("a second SIGTERM during the drain exits at once with 130, and what was in flight is delivered again after the lease", async () => {
  const dir = tempDir();
  const answered = new Map<string, number>();
  const receiver = await startReceiver({
    respond: (req) => {
      const id = String(req.headers["webhook-id"]);
      answered.set(id, (answered.get(id) ?? 0) + 1);
      return { delayMs: 600 };
    },
  });
  const env = { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN, FERRY_LEASE_MS: "2000", FERRY_TIMEOUT_MS: "1000" };
  let ferry: FerryProcess | undefined;
  try {
    const first = await startServer("start", env);
    ferry = first;
    const res = await ingest(first.url, TOKEN, {
      endpoint: { method: "GET", url: `${receiver.url}/hit?id={n}` },
      data: [{ n: 1 }, { n: 2 }, { n: 3 }],
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const all: string[] = res.body.ids;
    await until(() => receiver.count() >= all.length, 10_000, () => `receiver got ${receiver.count()}`);
    const t0 = Date.now();
    first.signal("SIGTERM");
    await first.waitForOutput(/"msg":"shutting down/);
    first.signal("SIGTERM");
    const exit = await first.exited;
    assert.deepEqual(exit, { code: 130, signal: null }, first.stderr());
    assert.ok(since(t0) < 600, `took ${since(t0)} ms: it waited for the deliveries in flight`);
    assert.match(first.stderr(), /second SIGTERM; exiting now/);
    assert.equal(attempts(first).length, 0, "no attempt finished, none should be recorded");

    const second = await startServer("start", env);
    ferry = second;
    await until(() => all.every((id) => answered.get(id) === 2), 10_000, () => JSON.stringify([...answered]));
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
  } finally {
    ferry?.signal("SIGKILL");
    await ferry?.exited;
    await receiver.close();
    dir.cleanup();
  }
});

test("a backlog kept while the partner was down is delivered by the next start after SIGTERM", async () => {
  const dir = tempDir();
  const partnerPort = await freePort(); // nobody listens there yet: connection refused
  const env = {
    FERRY_DATA_DIR: dir.path,
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_RETRY_BASE_MS: "50",
    FERRY_RETRY_MAX_DELAY_MS: "400",
    FERRY_MAX_ATTEMPTS: "100",
  };
  let ferry: FerryProcess | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  try {
    const first = await startServer("start", env);
    ferry = first;
    const res = await ingest(first.url, TOKEN, {
      endpoint: { method: "GET", url: `http://127.0.0.1:${partnerPort}/hit?id={n}` },
      data: Array.from({ length: 50 }, (_, n) => ({ n })),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const all: string[] = res.body.ids;
    const failedTwice = () => {
      const failures = new Map<string, number>();
      for (const a of attempts(first)) {
        if (a["state"] === "failed" && a["error"] === "connection_refused") failures.set(a["postback_id"], (failures.get(a["postback_id"]) ?? 0) + 1);
      }
      return all.filter((id) => (failures.get(id) ?? 0) >= 2).length;
    };
    await until(() => failedTwice() === all.length, 15_000, () => `${failedTwice()} of ${all.length} failed twice`);
    assert.deepEqual(await first.stop(), { code: 0, signal: null }, first.stderr());

    receiver = await startReceiver({ port: partnerPort });
    const second = await startServer("start", env);
    ferry = second;
    await until(() => new Set(ids(receiver!.requests)).size >= all.length, 15_000, () => `receiver got ${receiver!.count()} of ${all.length}`);
    assert.deepEqual([...ids(receiver.requests)].sort(), [...all].sort());

    // The record keeps the whole story: refused attempts, then the delivery.
    // (The receiver sees a request before Ferry has recorded the answer: wait for the record.)
    let record: any;
    const delivered = async () => {
      const res = await fetch(`${second.url}/v1/postbacks/${all[0]}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      record = await res.json();
      return record.state === "delivered";
    };
    await until(delivered, 5000, () => JSON.stringify(record));
    assert.ok(record.attempts.length >= 3, JSON.stringify(record.attempts));
    assert.equal(record.attempts[0].error, "connection_refused");
    assert.equal(record.attempts.at(-1).status_code, 200);
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
    assertNoErrors(first);
    assertNoErrors(second);
  } finally {
    ferry?.signal("SIGKILL");
    await ferry?.exited;
    await receiver?.close();
    dir.cleanup();
  }
});

test("a `ferry start` killed with SIGKILL while retrying 503s delivers its whole backlog after a restart", async () => {
  const dir = tempDir();
  let up = false;
  const answered = new Set<string>();
  const receiver = await startReceiver({
    respond: (req) => {
      if (!up) return { status: 503 };
      answered.add(String(req.headers["webhook-id"]));
      return { status: 200 };
    },
  });
  const env = {
    FERRY_DATA_DIR: dir.path,
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_LEASE_MS: "2000",
    FERRY_TIMEOUT_MS: "1000",
    FERRY_RETRY_BASE_MS: "50",
    FERRY_RETRY_MAX_DELAY_MS: "400",
    FERRY_MAX_ATTEMPTS: "100",
  };
  let ferry: FerryProcess | undefined;
  try {
    const first = await startServer("start", env);
    ferry = first;
    const res = await ingest(first.url, TOKEN, {
      endpoint: { method: "GET", url: `${receiver.url}/hit?id={n}` },
      data: Array.from({ length: 50 }, (_, n) => ({ n })),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const all: string[] = res.body.ids;
    await until(() => receiver.count() >= 120, 15_000, () => `receiver got ${receiver.count()}`);
    first.signal("SIGKILL");
    assert.equal((await first.exited).signal, "SIGKILL");
    assert.equal(answered.size, 0);

    up = true;
    const second = await startServer("start", env);
    ferry = second;
    await until(() => all.every((id) => answered.has(id)), 15_000, () => `${answered.size} of ${all.length} answered 200`);
    assert.deepEqual([...answered].sort(), [...all].sort());
    assert.deepEqual(await second.stop(), { code: 0, signal: null });
    assertNoErrors(first);
    assertNoErrors(second);
  } finally {
    ferry?.signal("SIGKILL");
    await ferry?.exited;
    await receiver.close();
    dir.cleanup();
  }
});

test("a malformed setting stops start-up with exit code 2 and a message naming it; a port in use, with 1", async () => {
  const dir = tempDir();
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const takenPort = (taken.address() as AddressInfo).port;
  try {
    const badPort = spawnFerry(["start"], { FERRY_PORT: "abc", FERRY_DATA_DIR: dir.path });
    const badLease = spawnFerry(["worker"], { FERRY_LEASE_MS: "1000", FERRY_TIMEOUT_MS: "1000", FERRY_DATA_DIR: dir.path });
    const [port, lease] = await Promise.all([badPort.exited, badLease.exited]);
    assert.deepEqual(port, { code: 2, signal: null });
    assert.match(badPort.stderr(), /FERRY_PORT: must be a whole number from 0 to 65535, got "abc"/);
    assert.doesNotMatch(badPort.stderr(), /\n\s+at /, "a stack trace instead of a message");
    assert.deepEqual(lease, { code: 2, signal: null });
    assert.match(badLease.stderr(), /FERRY_LEASE_MS \(1000\) must be at least twice FERRY_TIMEOUT_MS \(1000\)/);

    const inUse = spawnFerry(["start"], { FERRY_PORT: String(takenPort), FERRY_HOST: "127.0.0.1", FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN });
    assert.deepEqual(await inUse.exited, { code: 1, signal: null });
    assert.equal(inUse.stderr(), `ferry: port ${takenPort} is in use; set FERRY_PORT to another port\n`);
  } finally {
    await killAll();
    await new Promise((resolve) => taken.close(resolve));
    dir.cleanup();
  }
});

test("with no FERRY_ADMIN_TOKEN the first start prints a generated token once, later starts accept it, and no log line holds it", async () => {
  const dir = tempDir();
  const receiver = await startReceiver();
  // trace: the most the logger writes, so a token reaching any log line would show.
  const env = { FERRY_DATA_DIR: dir.path, FERRY_LOG_LEVEL: "trace" };
  let ferry: FerryProcess | undefined;
  const body = { endpoint: { method: "GET", url: `${receiver.url}/hit?id={n}` }, data: [{ n: 1 }] };
  try {
    const first = await startServer("start", env);
    ferry = first;
    const printed = first.stdout().match(/ferry_admin_[A-Za-z0-9_-]+/g) ?? [];
    assert.equal(printed.length, 1, `expected one token in:\n${first.stdout()}`);
    const token = printed[0]!;
    assert.match(token, /^ferry_admin_[A-Za-z0-9_-]{43}$/);

    assert.equal((await ingest(first.url, token, body)).status, 202);
    assert.equal((await ingest(first.url, "ferry_admin_not-the-token-0123456789", body)).status, 401);
    await receiver.waitFor(1);
    assert.deepEqual(await first.stop(), { code: 0, signal: null }, first.stderr());

    const second = await startServer("start", env);
    ferry = second;
    assert.doesNotMatch(second.stdout(), /ferry_admin_/);
    assert.equal((await ingest(second.url, token, body)).status, 202);
    await receiver.waitFor(2);
    assert.deepEqual(await second.stop(), { code: 0, signal: null }, second.stderr());

    for (const p of [first, second]) {
      const out = p.stdout() + p.stderr();
      const logLines = out.split("\n").filter((l) => l.startsWith("{"));
      assert.ok(logLines.length >= 3, "expected JSON log lines");
      for (const line of logLines) {
        JSON.parse(line);
        assert.ok(!line.includes(token), `a log line holds the token: ${line}`);
        assert.ok(!line.includes(token.slice("ferry_admin_".length)), `a log line holds the token's secret part: ${line}`);
      }
      // Outside the log, the token appears only in the first start's banner.
      const rest = out.split("\n").filter((l) => !l.startsWith("{") && l.includes(token));
      assert.equal(rest.length, p === first ? 1 : 0);
    }
  } finally {
    ferry?.signal("SIGKILL");
    await ferry?.exited;
    await receiver.close();
    dir.cleanup();
  }
});

test("`ferry receiver --port N` prints the method and full URL of each request it gets", async () => {
  const port = await freePort();
  const receiver = spawnFerry(["receiver", "--port", String(port)]);
  try {
    await receiver.waitForOutput(new RegExp(`receiver listening on http://127\\.0\\.0\\.1:${port}, answering 200`));
    const get = await fetch(`http://127.0.0.1:${port}/hit?id=7&title=Gopher`);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), "ok");
    const post = await fetch(`http://127.0.0.1:${port}/events/a?x=1`, { method: "POST", body: '{"mascot":"Gopher"}' });
    assert.equal(post.status, 200);
    await post.text();
    await receiver.waitForOutput(new RegExp(`POST http://127\\.0\\.0\\.1:${port}/events/a\\?x=1 .*\\{"mascot":"Gopher"\\}`));
    assert.match(receiver.stdout(), new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} GET http://127\\.0\\.0\\.1:${port}/hit\\?id=7&title=Gopher$`, "m"));
    assert.deepEqual(await receiver.stop(), { code: 0, signal: null });
  } finally {
    receiver.signal("SIGKILL");
    await receiver.exited;
  }
});

test("ferry receiver refuses bad arguments with exit code 2 and a message naming them", async () => {
  for (const [args, named] of [
    [["--status", "abc"], "--status"],
    [["--port", "70000"], "--port"],
    [["--delay-ms", "-5"], "--delay-ms"],
    [["--nonsense"], "nonsense"],
  ] as const) {
    const proc = spawnFerry(["receiver", ...args]);
    const exit = await proc.exited;
    assert.equal(exit.code, 2, `ferry receiver ${args.join(" ")} exited ${exit.code}`);
    assert.ok(proc.stderr().includes(named), `stderr should name ${named}: ${proc.stderr()}`);
    assert.ok(!proc.stderr().includes("    at "), "no stack trace");
  }
});
