/**
 * Ordered delivery end to end (issue 14, part 5) on the embedded default: a real `ferry start`
 * on a SQLite data dir and a real receiver that fails the first attempt of every fifth
 * postback (500), so retries happen. A destination with ordering "destination" and one with
 * ordering "key" ({session}) receive their postbacks one at a time per line, in the order they
 * were pushed, a failing head retried before anything behind it; an unordered destination
 * alongside gets the same failures, is overtaken freely and finishes first. The same again with
 * `ferry api` and two `ferry worker` processes on one data dir: the lines hold across workers.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Ferry } from "@ferry/client";
import { tempDir } from "./support/harness.js";
import { killAll, startServer, startWorker, until, type ServerProcess } from "./support/processes.js";
import { startReceiver, type Receiver } from "../src/receiver.js";

const TOKEN = "ordered-delivery-test-admin-token-0123456789";
const PUSHES = 6;
const PER_PUSH = 10;
const TOTAL = PUSHES * PER_PUSH;
const SESSIONS = 3;

interface Arrival {
  path: string;
  n: number;
  session: string | undefined;
  status: number;
  at: number;
}

let receiver: Receiver;
const arrivals: Arrival[] = [];
const failedOnce = new Set<string>();
/** Requests being answered per line (path + line), and the most ever at once. */
const inFlight = new Map<string, number>();
const mostInFlight = new Map<string, number>();
const dirs: { cleanup(): void }[] = [];

/** The line a request belongs to at the receiver: the whole path, or the path and session. */
function lineOf(path: string, session: string | undefined): string {
  return path.endsWith("/by-key") ? `${path} ${session}` : path;
}

before(async () => {
  receiver = await startReceiver({
    respond: (req) => {
      const path = new URL(req.url).pathname;
      const { n, session } = JSON.parse(req.body) as { n: number; session?: string };
      const first = !failedOnce.has(`${path} ${n}`);
      failedOnce.add(`${path} ${n}`);
      const status = n % 5 === 0 && first ? 500 : 200;
      arrivals.push({ path, n, session, status, at: Date.now() });
      const line = lineOf(path, session);
      const now = (inFlight.get(line) ?? 0) + 1;
      inFlight.set(line, now);
      mostInFlight.set(line, Math.max(mostInFlight.get(line) ?? 0, now));
      // Answered a little later, so that a second request of the line, if sent, overlaps.
      setTimeout(() => inFlight.set(line, inFlight.get(line)! - 1), 4);
      return { status, delayMs: 5 };
    },
  });
});

after(async () => {
  await killAll();
  await receiver.close();
  for (const dir of dirs) dir.cleanup();
});

/** A fresh data dir and the settings every process of a scenario shares. */
function settings(): Record<string, string> {
  const dir = tempDir("ferry-ordered-");
  dirs.push(dir);
  return { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN, FERRY_POLL_INTERVAL_MS: "20", FERRY_RETRY_BASE_MS: "50" };
}

/** The n of each request that arrived for `path` (and session), in arrival order. */
function sequence(path: string, status?: number, session?: string): number[] {
  return arrivals
    .filter((a) => a.path === path && (status === undefined || a.status === status) && (session === undefined || a.session === session))
    .map((a) => a.n);
}

function neverBackwards(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || x >= xs[i - 1]!);
}

test("ferry start: ordered lines keep push order through retries, one at a time; an unordered destination alongside is not held back", async () => {
  const ferry = await startServer("start", settings());
  await orderedScenario(ferry, "/start");
});

test("ferry api and two ferry workers on one data dir: the lines hold across workers", async () => {
  const env = settings();
  const ferry = await startServer("api", env);
  await Promise.all([startWorker(env), startWorker(env)]);
  await orderedScenario(ferry, "/workers");
});

/** Pushes to an ordered-by-destination, an ordered-by-key and an unordered destination under `prefix`, and checks what arrived. */
async function orderedScenario(ferry: ServerProcess, prefix: string): Promise<void> {
  const admin = new Ferry({ url: ferry.url, token: TOKEN });
  const account = await admin.accounts.create({ name: `Ordered partners ${prefix}` });
  const common = { account_id: account.id, method: "POST" as const, max_attempts: 5, failure_threshold: 0 };
  const byDestination = await admin.destinations.create({ ...common, url: `${receiver.url}${prefix}/by-destination`, ordering: "destination" });
  const byKey = await admin.destinations.create({ ...common, url: `${receiver.url}${prefix}/by-key`, ordering: "key", ordering_key: "{session}" });
  await admin.destinations.create({ ...common, url: `${receiver.url}${prefix}/free` });
  assert.equal(byDestination.ordering, "destination");
  assert.equal(byKey.ordering_key, "{session}");

  const { token } = await admin.tokens.create(account.id, { name: "pusher" });
  const client = new Ferry({ url: ferry.url, token });
  for (let p = 0; p < PUSHES; p++) {
    await client.push(undefined, Array.from({ length: PER_PUSH }, (_, i) => {
      const n = p * PER_PUSH + i;
      return { n, session: `s${n % SESSIONS}` };
    }));
  }
  const delivered = (path: string) => sequence(path, 200).length;
  await until(() => [`${prefix}/by-destination`, `${prefix}/by-key`, `${prefix}/free`].every((path) => delivered(path) === TOTAL), 60_000, () =>
    `delivered: ${[`${prefix}/by-destination`, `${prefix}/by-key`, `${prefix}/free`].map((path) => `${path} ${delivered(path)}`).join(", ")}`);

  const all = Array.from({ length: TOTAL }, (_, n) => n);
  // "destination": one line; every request (failed ones too) in push order, a retry repeating its n.
  assert.ok(neverBackwards(sequence(`${prefix}/by-destination`)), `by-destination went backwards: ${sequence(`${prefix}/by-destination`).join(",")}`);
  assert.deepEqual(sequence(`${prefix}/by-destination`, 200), all, "delivered in push order, nothing overtaken");
  assert.ok(sequence(`${prefix}/by-destination`, 500).length >= TOTAL / 5, "first attempts failed, so retries happened");
  assert.equal(mostInFlight.get(`${prefix}/by-destination`), 1, "one at a time");

  // "key": a line per session, each in push order; sessions side by side.
  for (let s = 0; s < SESSIONS; s++) {
    const session = `s${s}`;
    const mine = all.filter((n) => n % SESSIONS === s);
    assert.ok(neverBackwards(sequence(`${prefix}/by-key`, undefined, session)), `session ${session} went backwards`);
    assert.deepEqual(sequence(`${prefix}/by-key`, 200, session), mine, `session ${session} delivered in push order`);
    assert.equal(mostInFlight.get(`${prefix}/by-key ${session}`), 1, `session ${session} one at a time`);
  }
  assert.ok(!neverBackwards(sequence(`${prefix}/by-key`, 200)), "sessions overtake one another: they are separate lines");

  // The unordered destination: the same failures reorder it, and it is done before the ordered line.
  assert.ok(!neverBackwards(sequence(`${prefix}/free`, 200)), "a retried postback is overtaken when order is off");
  const lastAt = (path: string) => Math.max(...arrivals.filter((a) => a.path === path && a.status === 200).map((a) => a.at));
  assert.ok(lastAt(`${prefix}/free`) < lastAt(`${prefix}/by-destination`), "the unordered destination finishes before the one-at-a-time line");
  assert.ok((mostInFlight.get(`${prefix}/free`) ?? 0) > 1, "the unordered destination gets requests side by side");
}
