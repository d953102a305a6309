/**
 * The EventStore conformance suite: events (seed 001) with their queries, sessions, event types,
 * the fan-out outbox and retention. Written against the port only; test/store.sqlite.test.ts
 * and test/store.postgres.test.ts run it against each adapter, every test on freshly opened
 * stores. Expected answers are computed here from the events written, by the rules the port
 * states (order by time then id, from inclusive, to exclusive), never read back from the store.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DuplicateIdError } from "../../src/core/port-errors.js";
import type { StoredEvent } from "../../src/core/events.js";
import type { EventFilter, EventStore, Stores } from "../../src/store/port.js";
import { assertUnavailable, T0, uniq, withStores, type OpenStores } from "./store-fixtures.js";

/** Seed 001's example time, 2021-09-26 09:15:27.243860 UTC, in microseconds. */
const SEED_US = Date.UTC(2021, 8, 26, 9, 15, 27, 243) * 1000 + 860;
const HOUR_US = 3_600_000_000;

/** Ferry ids sort by creation: this counter keeps the order they are made in. */
function eventId(): string {
  return uniq("evt");
}

function event(overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: eventId(),
    accountId: "acct_A",
    clientId: null,
    sessionId: "e2085be5-9137-4e4e-80b5-f1ffddc25423",
    category: "party",
    name: "AppName",
    data: JSON.stringify({ host: "www.party.com", path: "/" }),
    timestampUs: SEED_US,
    receivedAt: T0,
    ...overrides,
  };
}

/** The port's order: timestamp, then id (bytewise). */
function ordered(events: StoredEvent[]): StoredEvent[] {
  return [...events].sort((a, b) => a.timestampUs - b.timestampUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function matching(events: StoredEvent[], f: Omit<EventFilter, "limit" | "after">): StoredEvent[] {
  return ordered(
    events.filter(
      (e) =>
        e.accountId === f.accountId &&
        (f.sessionId === undefined || e.sessionId === f.sessionId) &&
        (f.category === undefined || e.category === f.category) &&
        (f.name === undefined || e.name === f.name) &&
        (f.fromUs === undefined || e.timestampUs >= f.fromUs) &&
        (f.toUs === undefined || e.timestampUs < f.toUs),
    ),
  );
}

/** Every page of a query, `limit` at a time, following the cursor of each page's last event. */
async function allPages(store: EventStore, filter: Omit<EventFilter, "limit" | "after">, limit: number): Promise<StoredEvent[]> {
  const got: StoredEvent[] = [];
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 1000, "pagination does not end");
    const last = got.at(-1);
    const page = await store.queryEvents({ ...filter, limit, after: last && { timestampUs: last.timestampUs, id: last.id } });
    assert.ok(page.length <= limit);
    got.push(...page);
    if (page.length < limit) return got;
  }
}

/** A deterministic shuffle, so a failure repeats. */
function shuffled<T>(items: T[], seed = 7): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const ids = (events: StoredEvent[]): string[] => events.map((e) => e.id);

export function eventStoreConformance(name: string, open: OpenStores): void {
  async function withStore(fn: (store: EventStore, stores: Stores) => Promise<void>): Promise<void> {
    await withStores(open, ({ stores }) => fn(stores.events, stores));
  }

  describe(`event store conformance: ${name}`, () => {
    describe("events", () => {
      test("an event reads back exactly, microseconds, unicode and client id included", () =>
        withStore(async (store) => {
          const e = event({ clientId: "client-1", data: JSON.stringify({ note: "ünï 😀", n: 1.5, nested: { a: [1, null] } }) });
          const other = event({ timestampUs: -1_000_001, sessionId: "s-old", data: "{}" }); // before 1970
          const far = event({ timestampUs: 253402300799999999, sessionId: "s-far", data: "{}" }); // 9999-12-31T23:59:59.999999Z
          assert.deepEqual(await store.insertEvents([e, other, far]), [
            { id: e.id, created: true },
            { id: other.id, created: true },
            { id: far.id, created: true },
          ]);
          assert.deepEqual(await store.getEvent("acct_A", e.id), e);
          assert.deepEqual(await store.getEvent("acct_A", other.id), other);
          assert.deepEqual(await store.getEvent("acct_A", far.id), far);
          assert.deepEqual(await store.queryEvents({ accountId: "acct_A", limit: 10 }), [other, e, far]);
          assert.equal((await store.getEvent("acct_A", e.id))?.timestampUs, SEED_US, "the seed's .243860 kept to the microsecond");
          assert.equal(await store.getEvent("acct_A", "evt_none"), undefined);
          assert.deepEqual(await store.insertEvents([]), []);
        }));

      test("events come back ordered by time, ties by id, whatever order they were stored in", () =>
        withStore(async (store) => {
          const events = Array.from({ length: 60 }, (_, n) => event({ timestampUs: SEED_US + (n % 5) * 1000 + (n % 2) }));
          for (const batch of [events.slice(40), events.slice(0, 20), events.slice(20, 40)]) await store.insertEvents(shuffled(batch));
          const got = await store.queryEvents({ accountId: "acct_A", limit: 100 });
          assert.deepEqual(ids(got), ids(ordered(events)));
          assert.ok(got.some((e, i) => i > 0 && e.timestampUs === got[i - 1]!.timestampUs), "the data has ties");
        }));

      test("every combination of filters gives exactly the matching events", () =>
        withStore(async (store) => {
          const events: StoredEvent[] = [];
          for (let n = 0; n < 96; n++) {
            events.push(
              event({
                sessionId: `s${n % 3}`,
                category: ["party", "click", "party.rsvp"][n % 4 === 3 ? 2 : n % 2]!,
                name: n % 5 < 2 ? "AppA" : "AppB",
                timestampUs: SEED_US + Math.floor(n / 4) * HOUR_US + (n % 4),
              }),
            );
          }
          events.push(event({ accountId: "acct_B", sessionId: "s0", category: "party", name: "AppA", timestampUs: SEED_US + 1 }));
          await store.insertEvents(shuffled(events));
          const values = {
            sessionId: [undefined, "s0", "s2", "s-none"],
            category: [undefined, "party", "party.rsvp"],
            name: [undefined, "AppA"],
            fromUs: [undefined, SEED_US + 3 * HOUR_US, SEED_US + 3 * HOUR_US + 2],
            toUs: [undefined, SEED_US + 10 * HOUR_US + 1, SEED_US + 3 * HOUR_US],
          };
          let combinations = 0;
          for (const sessionId of values.sessionId)
            for (const category of values.category)
              for (const name of values.name)
                for (const fromUs of values.fromUs)
                  for (const toUs of values.toUs) {
                    const filter = { accountId: "acct_A", sessionId, category, name, fromUs, toUs };
                    const got = await store.queryEvents({ ...filter, limit: 1000 });
                    assert.deepEqual(ids(got), ids(matching(events, filter)), JSON.stringify(filter));
                    combinations++;
                  }
          assert.equal(combinations, 4 * 3 * 2 * 3 * 3);
          assert.ok(matching(events, { accountId: "acct_A", sessionId: "s0", category: "party", name: "AppA" }).length > 0, "combinations do match");
        }));

      test("from is inclusive and to exclusive, to the microsecond", () =>
        withStore(async (store) => {
          const at = [SEED_US - 1, SEED_US, SEED_US + 1, SEED_US + 2].map((timestampUs) => event({ timestampUs }));
          await store.insertEvents(at);
          const range = (fromUs: number, toUs: number) => store.queryEvents({ accountId: "acct_A", fromUs, toUs, limit: 10 }).then(ids);
          assert.deepEqual(await range(SEED_US, SEED_US + 2), ids(at.slice(1, 3)));
          assert.deepEqual(await range(SEED_US, SEED_US), []);
          assert.deepEqual(await range(SEED_US + 2, SEED_US + 3), ids(at.slice(3)));
          assert.deepEqual(await store.queryEvents({ accountId: "acct_A", category: "party", toUs: SEED_US, limit: 10 }).then(ids), ids(at.slice(0, 1)));
          assert.deepEqual(await store.queryEvents({ accountId: "acct_A", sessionId: at[0]!.sessionId, fromUs: SEED_US + 1, limit: 10 }).then(ids), ids(at.slice(2)));
        }));

      test("paging through a few hundred events, ties across page edges, loses and repeats none", () =>
        withStore(async (store) => {
          const events = Array.from({ length: 350 }, (_, n) =>
            event({ sessionId: `s${n % 2}`, category: n % 3 ? "party" : "click", name: n % 7 ? "AppA" : "AppB", timestampUs: SEED_US + Math.floor(n / 6) }),
          );
          for (let i = 0; i < events.length; i += 50) await store.insertEvents(shuffled(events.slice(i, i + 50), i + 1));
          for (const filter of [
            { accountId: "acct_A" },
            { accountId: "acct_A", sessionId: "s1" },
            { accountId: "acct_A", category: "party" },
            { accountId: "acct_A", name: "AppA", fromUs: SEED_US + 10, toUs: SEED_US + 50 },
            { accountId: "acct_A", sessionId: "s0", category: "click", fromUs: SEED_US + 3 },
          ]) {
            for (const limit of [1, 7, 50]) {
              assert.deepEqual(ids(await allPages(store, filter, limit)), ids(matching(events, filter)), `${JSON.stringify(filter)} by ${limit}`);
            }
          }
        }));

      test("an account sees only its own events, sessions and event types", () =>
        withStore(async (store) => {
          const mine = event({ accountId: "acct_A", sessionId: "shared", clientId: "c1" });
          const theirs = event({ accountId: "acct_B", sessionId: "shared", clientId: "c1", timestampUs: SEED_US + 5 });
          assert.deepEqual(await store.insertEvents([mine, theirs]), [
            { id: mine.id, created: true },
            { id: theirs.id, created: true },
          ], "client ids are per account");
          assert.deepEqual(await store.queryEvents({ accountId: "acct_A", sessionId: "shared", limit: 10 }), [mine]);
          assert.deepEqual(await store.queryEvents({ accountId: "acct_B", limit: 10 }), [theirs]);
          assert.deepEqual(await store.queryEvents({ accountId: "acct_C", limit: 10 }), []);
          assert.equal(await store.getEvent("acct_B", mine.id), undefined);
          assert.deepEqual(await store.sessionSummary("acct_A", "shared"), { count: 1, firstUs: SEED_US, lastUs: SEED_US });
          assert.equal(await store.sessionSummary("acct_C", "shared"), undefined);
          assert.deepEqual(await store.listSessions({ accountId: "acct_B", limit: 10 }), [{ sessionId: "shared", count: 1, firstUs: SEED_US + 5, lastUs: SEED_US + 5 }]);
          await store.putEventType("acct_A", "party", "{}", null, T0);
          assert.equal(await store.getEventType("acct_B", "party"), undefined);
          assert.deepEqual(await store.listEventTypes("acct_B", { limit: 10 }), []);
          assert.equal(await store.deleteEventType("acct_B", "party"), false);
          assert.equal(await store.deleteEventsReceivedBefore("acct_B", T0 + 1, 10), 0, "acct_A's event is pending fan-out, acct_B's too");
        }));
    });

    describe("client ids", () => {
      test("an event whose client id is stored already is not stored again: the answer names the original", () =>
        withStore(async (store) => {
          const first = event({ clientId: "retry-me", data: JSON.stringify({ try: 1 }) });
          await store.insertEvents([first]);
          const again = event({ clientId: "retry-me", data: JSON.stringify({ try: 2 }), timestampUs: SEED_US + 9 });
          const fresh = event({ clientId: "new-one" });
          assert.deepEqual(await store.insertEvents([again, fresh]), [
            { id: first.id, created: false },
            { id: fresh.id, created: true },
          ]);
          assert.equal(await store.getEvent("acct_A", again.id), undefined);
          assert.deepEqual(await store.getEvent("acct_A", first.id), first, "the original is kept as it was");
          assert.deepEqual(ids(await store.queryEvents({ accountId: "acct_A", limit: 10 })), [first.id, fresh.id]);
          assert.deepEqual(await store.sessionSummary("acct_A", first.sessionId), { count: 2, firstUs: SEED_US, lastUs: SEED_US }, "counted once");
          assert.deepEqual(ids(await store.pendingFanout(10)), [first.id, fresh.id], "fanned out once");
        }));

      test("a client id repeated within one call is stored once; events without one are never merged", () =>
        withStore(async (store) => {
          const a = event({ clientId: "dup" });
          const b = event({ clientId: "dup", timestampUs: SEED_US + 1 });
          const plain1 = event();
          const plain2 = event({ data: plain1.data, timestampUs: plain1.timestampUs });
          const c = event({ clientId: "dup" });
          assert.deepEqual(await store.insertEvents([a, plain1, b, plain2, c]), [
            { id: a.id, created: true },
            { id: plain1.id, created: true },
            { id: a.id, created: false },
            { id: plain2.id, created: true },
            { id: a.id, created: false },
          ]);
          assert.equal((await store.queryEvents({ accountId: "acct_A", limit: 10 })).length, 3);
          assert.equal((await store.pendingFanout(10)).length, 3);
        }));

      test("the first of a batch's repeats is stored, even when later ones sort before it", () =>
        withStore(async (store) => {
          const a = event({ clientId: "z-late", id: "evt_9" });
          const b = event({ clientId: "z-late", id: "evt_1" });
          assert.deepEqual(await store.insertEvents([a, b]), [
            { id: "evt_9", created: true },
            { id: "evt_9", created: false },
          ]);
        }));
    });

    describe("atomicity", () => {
      test("a batch naming a stored Ferry id rejects with DuplicateIdError and writes nothing of itself", () =>
        withStore(async (store) => {
          const stored = event();
          await store.insertEvents([stored]);
          const before = { session: await store.sessionSummary("acct_A", "batch-s"), pending: ids(await store.pendingFanout(100)) };
          const batch = [
            event({ sessionId: "batch-s", clientId: "c-new" }),
            event({ sessionId: "batch-s" }),
            { ...event({ sessionId: "batch-s" }), id: stored.id },
            event({ sessionId: "batch-s" }),
          ];
          await assert.rejects(store.insertEvents(batch), (err: unknown) => {
            assert.ok(err instanceof DuplicateIdError, String(err));
            assert.equal(err.backend, "store");
            assert.equal(err.id, stored.id);
            return true;
          });
          assert.deepEqual(ids(await store.queryEvents({ accountId: "acct_A", limit: 100 })), [stored.id]);
          assert.equal(await store.getEvent("acct_A", batch[0]!.id), undefined);
          assert.deepEqual({ session: await store.sessionSummary("acct_A", "batch-s"), pending: ids(await store.pendingFanout(100)) }, before);
          // Its client id was not taken: the batch sent again without the bad event stores it.
          const retry = await store.insertEvents([batch[0]!]);
          assert.deepEqual(retry, [{ id: batch[0]!.id, created: true }]);
        }));

      test("a Ferry id twice within one batch (different client ids) rejects, nothing written", () =>
        withStore(async (store) => {
          const a = event({ clientId: "x1" });
          const b = { ...event({ clientId: "x2" }), id: a.id };
          await assert.rejects(store.insertEvents([event(), a, b]), DuplicateIdError);
          assert.deepEqual(await store.queryEvents({ accountId: "acct_A", limit: 10 }), []);
          assert.deepEqual(await store.pendingFanout(10), []);
          assert.deepEqual(await store.listSessions({ accountId: "acct_A", limit: 10 }), []);
        }));
    });

    describe("sessions", () => {
      test("a session's summary counts all its events, first and last time", () =>
        withStore(async (store) => {
          await store.insertEvents([event({ sessionId: "s", timestampUs: SEED_US + 50 }), event({ sessionId: "s", timestampUs: SEED_US + 10 })]);
          await store.insertEvents([event({ sessionId: "s", timestampUs: SEED_US + 90 }), event({ sessionId: "s", timestampUs: SEED_US - 5, name: "Other" })]);
          await store.insertEvents([event({ sessionId: "s2", timestampUs: SEED_US })]);
          assert.deepEqual(await store.sessionSummary("acct_A", "s"), { count: 4, firstUs: SEED_US - 5, lastUs: SEED_US + 90 });
          assert.deepEqual(await store.sessionSummary("acct_A", "s2"), { count: 1, firstUs: SEED_US, lastUs: SEED_US });
          assert.equal(await store.sessionSummary("acct_A", "none"), undefined);
          const story = await store.queryEvents({ accountId: "acct_A", sessionId: "s", limit: 100 });
          assert.deepEqual(story.map((e) => e.timestampUs), [SEED_US - 5, SEED_US + 10, SEED_US + 50, SEED_US + 90]);
        }));

      test("listSessions: sessions whose span meets [from, to), whole-session figures, by last time then id, paged", () =>
        withStore(async (store) => {
          const h = (n: number) => SEED_US + n * HOUR_US;
          // Spans in hours: a [0, 2], b [1, 1], c [3, 6], d [5, 5], e [2, 9] by AppB only, f [8, 8]
          const spans: Record<string, number[]> = { a: [0, 2], b: [1], c: [3, 6, 4], d: [5], e: [2, 9], f: [8] };
          for (const [sessionId, hours] of Object.entries(spans)) {
            await store.insertEvents(hours.map((n) => event({ sessionId, timestampUs: h(n), name: sessionId === "e" ? "AppB" : "AppA" })));
          }
          await store.insertEvents([event({ accountId: "acct_B", sessionId: "z", timestampUs: h(4) })]);
          const list = (f: { fromUs?: number; toUs?: number; name?: string }) =>
            store.listSessions({ accountId: "acct_A", ...f, limit: 100 }).then((l) => l.map((s) => s.sessionId));
          assert.deepEqual(await list({}), ["b", "a", "d", "c", "f", "e"]);
          assert.deepEqual(await list({ fromUs: h(4), toUs: h(5) }), ["c", "e"], "c spans it with no event inside; d starts at to");
          assert.deepEqual(await list({ fromUs: h(2), toUs: h(3) }), ["a", "e"], "from is inclusive (a ends at 2)");
          assert.deepEqual(await list({ fromUs: h(9) + 1 }), []);
          assert.deepEqual(await list({ toUs: h(1) }), ["a"]);
          assert.deepEqual(await list({ name: "AppB" }), ["e"]);
          assert.deepEqual(await list({ name: "AppA", fromUs: h(6) }), ["c", "f"]);
          const all = await store.listSessions({ accountId: "acct_A", limit: 100 });
          assert.deepEqual(all.find((s) => s.sessionId === "c"), { sessionId: "c", count: 3, firstUs: h(3), lastUs: h(6) });

          const paged: string[] = [];
          let after: { lastUs: number; sessionId: string } | undefined;
          for (;;) {
            const page = await store.listSessions({ accountId: "acct_A", fromUs: h(1), limit: 2, after });
            paged.push(...page.map((s) => s.sessionId));
            if (page.length < 2) break;
            const last = page.at(-1)!;
            after = { lastUs: last.lastUs, sessionId: last.sessionId };
          }
          assert.deepEqual(paged, ["b", "a", "d", "c", "f", "e"]);
        }));

      test("sessions ending at the same time page by session id", () =>
        withStore(async (store) => {
          const names = Array.from({ length: 25 }, (_, n) => `sess-${String(n).padStart(2, "0")}`);
          await store.insertEvents(shuffled(names).map((sessionId) => event({ sessionId })));
          const got: string[] = [];
          let after: { lastUs: number; sessionId: string } | undefined;
          for (let i = 0; i < 10; i++) {
            const page = await store.listSessions({ accountId: "acct_A", limit: 4, after });
            got.push(...page.map((s) => s.sessionId));
            const last = page.at(-1);
            if (!last) break;
            after = { lastUs: last.lastUs, sessionId: last.sessionId };
          }
          assert.deepEqual(got, names);
        }));
    });

    describe("event types", () => {
      test("put creates version 1, replacing makes version + 1 keeping createdAt; get, list, delete", () =>
        withStore(async (store) => {
          const schema = JSON.stringify({ type: "object", required: ["host"], properties: { host: { type: "string" } } });
          assert.deepEqual(await store.putEventType("acct_A", "party", schema, "a party", T0), {
            accountId: "acct_A",
            category: "party",
            schema,
            description: "a party",
            version: 1,
            createdAt: T0,
            updatedAt: T0,
          });
          const v2 = await store.putEventType("acct_A", "party", "{}", null, T0 + 10);
          assert.deepEqual(v2, { accountId: "acct_A", category: "party", schema: "{}", description: null, version: 2, createdAt: T0, updatedAt: T0 + 10 });
          assert.deepEqual(await store.getEventType("acct_A", "party"), v2);
          assert.equal((await store.putEventType("acct_A", "party", "{}", null, T0 + 20)).version, 3);
          assert.equal(await store.getEventType("acct_A", "click"), undefined);

          for (const category of ["click", "Party", "party.rsvp", "a"]) await store.putEventType("acct_A", category, "{}", null, T0);
          await store.putEventType("acct_B", "b-only", "{}", null, T0);
          const all = await store.listEventTypes("acct_A", { limit: 10 });
          assert.deepEqual(all.map((t) => t.category), ["Party", "a", "click", "party", "party.rsvp"], "bytewise order");
          assert.deepEqual((await store.listEventTypes("acct_A", { limit: 2, after: "a" })).map((t) => t.category), ["click", "party"]);

          assert.equal(await store.deleteEventType("acct_A", "party"), true);
          assert.equal(await store.deleteEventType("acct_A", "party"), false);
          assert.equal(await store.getEventType("acct_A", "party"), undefined);
          assert.equal((await store.putEventType("acct_A", "party", "{}", null, T0 + 30)).version, 1, "a deleted type starts over");
        }));

      test("concurrent replacements each get their own version", () =>
        withStore(async (store) => {
          const versions = await Promise.all(Array.from({ length: 10 }, (_, n) => store.putEventType("acct_A", "race", `{"n":${n}}`, null, T0 + n)));
          assert.deepEqual(versions.map((t) => t.version).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
          assert.equal((await store.getEventType("acct_A", "race"))?.version, 10);
        }));
    });

    describe("fan-out outbox", () => {
      test("stored events wait in the outbox, oldest first, until marked", () =>
        withStore(async (store) => {
          const events = Array.from({ length: 8 }, (_, n) => event({ accountId: n % 2 ? "acct_A" : "acct_B", timestampUs: SEED_US - n }));
          await store.insertEvents(events.slice(4));
          await store.insertEvents(events.slice(0, 4));
          assert.deepEqual(await store.pendingFanout(3), events.slice(0, 3), "by id, whole events");
          await store.markFannedOut([events[0]!.id, events[2]!.id, "evt_unknown"]);
          assert.deepEqual(ids(await store.pendingFanout(100)), ids([events[1]!, ...events.slice(3)]));
          await store.markFannedOut([]);
          await store.markFannedOut(ids(events));
          assert.deepEqual(await store.pendingFanout(100), []);
          assert.equal((await store.queryEvents({ accountId: "acct_A", limit: 10 })).length, 4, "marking keeps the events");
          await store.markFannedOut([events[1]!.id]);
        }));
    });

    describe("retention", () => {
      test("deletes at most `limit` events received before the cut, per account, oldest first, keeping those pending fan-out", () =>
        withStore(async (store) => {
          const old = Array.from({ length: 10 }, (_, n) => event({ sessionId: `s${n % 2}`, receivedAt: T0 + n, timestampUs: SEED_US + n }));
          const pending = event({ sessionId: "s0", receivedAt: T0 - 100, timestampUs: SEED_US - 1 });
          const recent = event({ sessionId: "s1", receivedAt: T0 + 1000, timestampUs: SEED_US + 1000 });
          const otherAccount = event({ accountId: "acct_B", sessionId: "s0", receivedAt: T0 });
          await store.insertEvents([...old, pending, recent, otherAccount]);
          await store.markFannedOut(ids([...old, recent, otherAccount]));

          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1000, 4), 4);
          assert.deepEqual(ids(await store.queryEvents({ accountId: "acct_A", limit: 100 })), ids(ordered([pending, ...old.slice(4), recent])), "the 4 received first went");
          assert.deepEqual(await store.sessionSummary("acct_A", "s0"), { count: 4, firstUs: SEED_US - 1, lastUs: SEED_US + 8 });
          assert.deepEqual(await store.sessionSummary("acct_A", "s1"), { count: 4, firstUs: SEED_US + 5, lastUs: SEED_US + 1000 });

          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1000, 4), 4);
          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1000, 4), 2, "fewer than the limit: done");
          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1000, 4), 0);
          assert.deepEqual(ids(await store.queryEvents({ accountId: "acct_A", limit: 100 })), ids([pending, recent]), "the cut is exclusive; pending stays");
          assert.deepEqual(await store.sessionSummary("acct_A", "s0"), { count: 1, firstUs: SEED_US - 1, lastUs: SEED_US - 1 });
          assert.deepEqual(await store.listSessions({ accountId: "acct_A", limit: 10 }), [
            { sessionId: "s0", count: 1, firstUs: SEED_US - 1, lastUs: SEED_US - 1 },
            { sessionId: "s1", count: 1, firstUs: SEED_US + 1000, lastUs: SEED_US + 1000 },
          ]);
          assert.deepEqual(await store.getEvent("acct_B", otherAccount.id), otherAccount, "another account's events stay");

          await store.markFannedOut([pending.id]);
          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1001, 0), 0, "limit 0 deletes nothing");
          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1001, 10), 2);
          assert.equal(await store.sessionSummary("acct_A", "s0"), undefined, "an emptied session is gone");
          assert.deepEqual(await store.listSessions({ accountId: "acct_A", limit: 10 }), []);
          // A client id freed by retention may be used again.
          const reused = event({ clientId: "c-again" });
          await store.insertEvents([{ ...reused, receivedAt: T0 }]);
          await store.markFannedOut([reused.id]);
          assert.equal(await store.deleteEventsReceivedBefore("acct_A", T0 + 1, 10), 1);
          const next = event({ clientId: "c-again" });
          assert.deepEqual(await store.insertEvents([next]), [{ id: next.id, created: true }]);
        }));
    });

    describe("concurrency", () => {
      test("parallel batches into one session, with overlapping client ids, lose and double nothing", () =>
        withStore(async (store) => {
          const writers = 8;
          const perWriter = 40;
          const batches = Array.from({ length: writers }, (_, w) =>
            Array.from({ length: perWriter }, (_, n) =>
              // Every fourth event is a retry every writer sends: stored once, whoever is first.
              n % 4 === 0
                ? event({ sessionId: "busy", clientId: `shared-${n}`, timestampUs: SEED_US + n })
                : event({ sessionId: "busy", clientId: n % 4 === 1 ? `w${w}-${n}` : null, timestampUs: SEED_US + ((n * 7 + w) % 13) }),
            ),
          );
          const results = await Promise.all(batches.map((b, w) => store.insertEvents(w % 2 ? [...b].reverse() : b)));
          const sharedIds = new Map<string, Set<string>>();
          results.forEach((result, w) => {
            const sent = w % 2 ? [...batches[w]!].reverse() : batches[w]!;
            result.forEach((r, i) => {
              const e = sent[i]!;
              if (e.clientId?.startsWith("shared-")) {
                const seen = sharedIds.get(e.clientId) ?? new Set();
                seen.add(r.id);
                sharedIds.set(e.clientId, seen);
              } else assert.deepEqual(r, { id: e.id, created: true });
            });
          });
          for (const [clientId, seen] of sharedIds) assert.equal(seen.size, 1, `${clientId}: one id for every writer`);
          const created = results.flat().filter((r) => r.created).length;
          const expected = writers * perWriter - (writers - 1) * (perWriter / 4);
          assert.equal(created, expected);
          const story = await store.queryEvents({ accountId: "acct_A", sessionId: "busy", limit: 10_000 });
          assert.equal(story.length, expected);
          assert.equal(new Set(ids(story)).size, expected);
          assert.deepEqual(ids(story), ids(ordered(story)));
          const summary = await store.sessionSummary("acct_A", "busy");
          assert.equal(summary?.count, expected, "the summary counted each stored event once");
          assert.equal((await store.pendingFanout(10_000)).length, expected);
        }));

      test("retention running beside inserts into the same sessions keeps the summaries right", () =>
        withStore(async (store) => {
          // Two retention loops and four writers on three sessions at once: a recount that
          // missed an insert committed meanwhile (or an insert's +1 lost under a recount) shows
          // as a summary that disagrees with the events. A stress check: it catches such a race
          // often, not every run (without Postgres's lock before the recount: 1 run in 4).
          const old = Array.from({ length: 120 }, (_, n) => event({ sessionId: `s${n % 3}`, receivedAt: T0, timestampUs: SEED_US + n }));
          await store.insertEvents(old);
          await store.markFannedOut(ids(old));
          const fresh = Array.from({ length: 240 }, (_, n) => event({ sessionId: `s${n % 3}`, receivedAt: T0 + 10, timestampUs: SEED_US + 1000 + n }));
          const deleting = async () => {
            let total = 0;
            for (let round = 0; round < 40; round++) total += await store.deleteEventsReceivedBefore("acct_A", T0 + 1, 3);
            return total;
          };
          const writing = async (w: number) => {
            const mine = fresh.filter((_, n) => n % 4 === w);
            for (let i = 0; i < mine.length; i += 3) await store.insertEvents(mine.slice(i, i + 3));
          };
          const [deleted1, deleted2] = await Promise.all([deleting(), deleting(), writing(0), writing(1), writing(2), writing(3)]);
          assert.equal(deleted1! + deleted2!, 120);
          for (const s of ["s0", "s1", "s2"]) {
            const events = await store.queryEvents({ accountId: "acct_A", sessionId: s, limit: 1000 });
            assert.equal(events.length, 80);
            assert.deepEqual(await store.sessionSummary("acct_A", s), { count: 80, firstUs: events[0]!.timestampUs, lastUs: events.at(-1)!.timestampUs }, s);
          }
        }));
    });

    describe("errors", () => {
      test("with the database gone, every call rejects with StoreUnavailableError", () =>
        withStores(open, async ({ stores, outage }) => {
          const store = stores.events;
          const stored = event({ clientId: "c" });
          await store.insertEvents([stored]);
          await outage();
          await assertUnavailable({
            insertEvents: () => store.insertEvents([event()]),
            insertRepeat: () => store.insertEvents([event({ clientId: "c" })]),
            queryEvents: () => store.queryEvents({ accountId: "acct_A", sessionId: stored.sessionId, limit: 10 }),
            getEvent: () => store.getEvent("acct_A", stored.id),
            sessionSummary: () => store.sessionSummary("acct_A", stored.sessionId),
            listSessions: () => store.listSessions({ accountId: "acct_A", name: "AppName", limit: 10 }),
            putEventType: () => store.putEventType("acct_A", "party", "{}", null, T0),
            getEventType: () => store.getEventType("acct_A", "party"),
            listEventTypes: () => store.listEventTypes("acct_A", { limit: 10 }),
            deleteEventType: () => store.deleteEventType("acct_A", "party"),
            pendingFanout: () => store.pendingFanout(10),
            markFannedOut: () => store.markFannedOut([stored.id]),
            deleteEventsReceivedBefore: () => store.deleteEventsReceivedBefore("acct_A", T0 + 1, 10),
          });
        }));
    });
  });
}
