/**
 * Events end to end (seed 001): the real API (inject), a real worker, real backends and a real
 * HTTP receiver for the fan-out. Each backend's test file calls `eventsSuite` once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, startPipeline, type Pipeline } from "../support/harness.js";
import { startReceiver, type Receiver } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";
import { deleteExpiredEvents } from "../../src/app/event-retention.js";
import { newEventId } from "../../src/core/ids.js";
import { account, call, ok, problem } from "../support/api.js";

/** Seed 001's example event, exactly as the seed gives it. */
export const SEED_EVENT = `{
"session_id": "e2085be5-9137-4e4e-80b5-f1ffddc25423",
"category": "party",
"name": "AppName",
"data": {
"host": "www.party.com",
"path": "/"
},
"timestamp": "2021-09-26 09:15:27.243860"
}`;

function event(session: string, at: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { session_id: session, category: "party", name: "AppName", data: { host: "www.party.com", path: "/" }, timestamp: at, ...fields };
}

export function eventsSuite(name: string, backend: () => Partial<Config> | Promise<Partial<Config>>): void {
  describe(`events (${name})`, () => {
    let receiver: Receiver;
    let p: Pipeline;
    before(async () => {
      receiver = await startReceiver();
      p = await startPipeline(await backend());
    });
    after(async () => {
      await p.stop();
      await receiver.close();
    });

    test("seed 001's example, sent as it is, is stored and read back to the microsecond", async () => {
      const acct = await account(p);
      const sent = ok(await call(p, "POST", "/v1/events", SEED_EVENT, acct.auth), 201, "the seed's event");
      assert.equal(sent.events.length, 1);
      const { index, id, created } = sent.events[0];
      assert.deepEqual([index, created], [0, true]);
      assert.match(id, /^evt_[0-9A-Z]{26}$/);
      const got = ok(await call(p, "GET", `/v1/events/${id}`, undefined, acct.auth), 200, "GET the event");
      assert.deepEqual(
        { ...got, received_at: undefined },
        {
          id,
          client_id: null,
          session_id: "e2085be5-9137-4e4e-80b5-f1ffddc25423",
          category: "party",
          name: "AppName",
          data: { host: "www.party.com", path: "/" },
          timestamp: "2021-09-26T09:15:27.243860Z",
          received_at: undefined,
        },
      );
      const session = ok(await call(p, "GET", "/v1/sessions/e2085be5-9137-4e4e-80b5-f1ffddc25423", undefined, acct.auth), 200, "the session");
      assert.equal(session.count, 1);
      assert.equal(session.first_timestamp, "2021-09-26T09:15:27.243860Z");
      assert.deepEqual(session.events.map((e: any) => e.id), [id]);
    });

    test("a batch answers per event, in order: valid ones stored, invalid ones named with their errors", async () => {
      const acct = await account(p);
      const res = ok(
        await call(p, "POST", "/v1/events", [event("s-batch", "2021-09-26 09:15:27.1"), { ...event("s-batch", "2021-02-30 10:00:00"), extra: 1 }, event("s-batch", "2021-09-26T09:15:28Z")], acct.auth),
        202,
        "a mixed batch",
      );
      assert.equal(res.events.length, 3);
      assert.ok(res.events[0].id && res.events[2].id);
      assert.equal(res.events[1].index, 1);
      assert.deepEqual(res.events[1].errors.map((e: any) => [e.code, e.field]).sort(), [["invalid_timestamp", "timestamp"], ["unknown_field", "extra"]].sort());
      const listed = ok(await call(p, "GET", "/v1/events?session_id=s-batch", undefined, acct.auth), 200, "the session's events");
      assert.deepEqual(listed.data.map((e: any) => e.timestamp), ["2021-09-26T09:15:27.100000Z", "2021-09-26T09:15:28.000000Z"]);
    });

    test("all invalid is 422 invalid_events with each event's errors; atomic=true stores none of a batch with one bad event", async () => {
      const acct = await account(p);
      const bad = problem(await call(p, "POST", "/v1/events", [{ session_id: "", category: "x" }], acct.auth), 422, "invalid_events", "all invalid");
      assert.equal(bad.events[0].index, 0);
      assert.ok(bad.events[0].errors.some((e: any) => e.code === "missing_field" && e.field === "timestamp"));
      const atomic = problem(
        await call(p, "POST", "/v1/events?atomic=true", [event("s-atomic", "2021-09-26 09:15:27"), event("s-atomic", "not a time")], acct.auth),
        422,
        "invalid_events",
        "atomic",
      );
      assert.deepEqual(atomic.events[0], { index: 0, stored: false, detail: atomic.events[0].detail });
      assert.equal(atomic.events[1].errors[0].code, "invalid_timestamp");
      problem(await call(p, "GET", "/v1/events?session_id=s-atomic", undefined, acct.auth), 404, "session_not_found", "nothing was stored");
      problem(await call(p, "POST", "/v1/events?atomic=yes", [event("s", "2021-09-26 09:15:27")], acct.auth), 422, "invalid_query", "atomic=yes");
      problem(await call(p, "POST", "/v1/events", [], acct.auth), 422, "invalid_body", "an empty array");
      problem(await call(p, "POST", "/v1/events", "{not json", acct.auth), 400, "invalid_json", "malformed JSON");
    });

    test("a client's own id makes its retry store nothing new and answer the first id", async () => {
      const acct = await account(p);
      const first = ok(await call(p, "POST", "/v1/events", event("s-retry", "2021-09-26 09:15:27", { id: "click-1" }), acct.auth), 201, "first");
      const again = ok(await call(p, "POST", "/v1/events", [event("s-retry", "2021-09-26 09:15:27", { id: "click-1" }), event("s-retry", "2021-09-26 09:15:29", { id: "click-2" })], acct.auth), 201, "retry");
      assert.deepEqual(again.events[0], { index: 0, id: first.events[0].id, created: false });
      assert.equal(again.events[1].created, true);
      const listed = ok(await call(p, "GET", "/v1/events?session_id=s-retry", undefined, acct.auth), 200, "list");
      assert.deepEqual(listed.data.map((e: any) => e.client_id), ["click-1", "click-2"]);
      // Another account may use the same client id.
      const other = await account(p);
      assert.equal(ok(await call(p, "POST", "/v1/events", event("s-retry", "2021-09-26 09:15:27", { id: "click-1" }), other.auth), 201, "other account").events[0].created, true);
    });

    test("an Idempotency-Key repeats the first answer and stores nothing new", async () => {
      const acct = await account(p);
      const headers = { ...acct.auth, "idempotency-key": "evt-key-1" };
      const first = ok(await call(p, "POST", "/v1/events", [event("s-idem", "2021-09-26 09:15:27")], headers), 201, "first");
      const again = await call(p, "POST", "/v1/events", [event("s-idem", "2021-09-26 09:15:27")], headers);
      assert.deepEqual([again.status, again.body, again.headers["idempotent-replayed"]], [201, first, "true"]);
      assert.equal(ok(await call(p, "GET", "/v1/sessions/s-idem", undefined, acct.auth), 200, "session").count, 1);
    });

    test("a category's schema checks data, names the path and the rule; versions count up; deleting it lifts the check", async () => {
      const acct = await account(p);
      const schema = { type: "object", required: ["host", "path"], properties: { host: { type: "string" }, path: { type: "string", pattern: "^/" } } };
      const v1 = ok(await call(p, "PUT", "/v1/event-types/party", { schema, description: "a page of the party" }, acct.auth), 201, "register");
      assert.deepEqual([v1.category, v1.version, v1.description], ["party", 1, "a page of the party"]);
      assert.deepEqual(v1.schema, schema);
      const res = ok(await call(p, "POST", "/v1/events", [event("s-schema", "2021-09-26 09:15:27"), event("s-schema", "2021-09-26 09:15:28", { data: { host: 5, path: "x" } })], acct.auth), 202, "one fails");
      const fields = res.events[1].errors.map((e: any) => [e.code, e.field]).sort();
      assert.deepEqual(fields, [["schema_violation", "data.host"], ["schema_violation", "data.path"]]);
      assert.ok(res.events[1].errors.every((e: any) => /type|pattern/.test(e.detail)), JSON.stringify(res.events[1].errors));
      problem(await call(p, "PUT", "/v1/event-types/party", { schema: { type: "nope" } }, acct.auth), 422, "invalid_schema", "a schema that does not compile");
      problem(await call(p, "PUT", "/v1/event-types/party", { schema: { $ref: "http://127.0.0.1:9/s.json" } }, acct.auth), 422, "invalid_schema", "a remote $ref");
      problem(await call(p, "PUT", "/v1/event-types/party", {}, acct.auth), 422, "invalid_schema", "no schema");
      problem(await call(p, "PUT", "/v1/event-types/bad%20category", { schema }, acct.auth), 422, "invalid_field", "a bad category");
      const v2 = ok(await call(p, "PUT", "/v1/event-types/party", { schema: { type: "object", properties: { host: { type: "integer" } } } }, acct.auth), 200, "replace");
      assert.equal(v2.version, 2);
      // The new version is checked at once (no stale compiled schema).
      const now = ok(await call(p, "POST", "/v1/events", [event("s-schema", "2021-09-26 09:15:29", { data: { host: 5 } })], acct.auth), 201, "v2 takes host: 5");
      assert.ok(now.events[0].id);
      assert.deepEqual(ok(await call(p, "GET", "/v1/event-types", undefined, acct.auth), 200, "list").data.map((t: any) => [t.category, t.version]), [["party", 2]]);
      assert.equal((await call(p, "DELETE", "/v1/event-types/party", undefined, acct.auth)).status, 204);
      problem(await call(p, "GET", "/v1/event-types/party", undefined, acct.auth), 404, "event_type_not_found", "deleted");
      ok(await call(p, "POST", "/v1/events", event("s-schema", "2021-09-26 09:15:30", { data: { anything: true } }), acct.auth), 201, "no schema: any data");
    });

    test("a strict_event_types account takes only registered categories", async () => {
      const acct = await account(p, { strict_event_types: true });
      const res = problem(await call(p, "POST", "/v1/events", event("s-strict", "2021-09-26 09:15:27", { category: "unregistered" }), acct.auth), 422, "invalid_events", "unknown category");
      assert.equal(res.events[0].errors[0].code, "unknown_category");
      ok(await call(p, "PUT", "/v1/event-types/unregistered", { schema: { type: "object" } }, acct.auth), 201, "register it");
      ok(await call(p, "POST", "/v1/events", event("s-strict", "2021-09-26 09:15:27", { category: "unregistered" }), acct.auth), 201, "now taken");
    });

    test("queries by session, category, name and time: ordered by timestamp then arrival, from inclusive, to exclusive, paged", async () => {
      const acct = await account(p);
      // Sent out of order, with a tie at :02 (the first sent comes first).
      const sent = [
        event("q1", "2021-09-26T10:00:03Z", { category: "click" }),
        event("q1", "2021-09-26T10:00:01Z"),
        event("q1", "2021-09-26T10:00:02Z", { category: "click", data: { tie: 1 } }),
        event("q1", "2021-09-26T10:00:02Z", { category: "click", data: { tie: 2 } }),
        event("q2", "2021-09-26T10:00:02.5Z", { name: "Other" }),
        event("q2", "2021-09-26T12:00:00Z", { category: "click" }),
      ];
      ok(await call(p, "POST", "/v1/events", sent, acct.auth), 201, "store");
      const list = async (query: string) => ok(await call(p, "GET", `/v1/events?${query}`, undefined, acct.auth), 200, query).data.map((e: any) => `${e.session_id}@${e.timestamp.slice(11, 22)}${e.data.tie ?? ""}`);
      assert.deepEqual(await list("session_id=q1"), ["q1@10:00:01.00", "q1@10:00:02.001", "q1@10:00:02.002", "q1@10:00:03.00"]);
      assert.deepEqual(await list("category=click"), ["q1@10:00:02.001", "q1@10:00:02.002", "q1@10:00:03.00", "q2@12:00:00.00"]);
      assert.deepEqual(await list("name=Other"), ["q2@10:00:02.50"]);
      assert.deepEqual(await list("from=2021-09-26T10:00:02Z&to=2021-09-26T10:00:03Z"), ["q1@10:00:02.001", "q1@10:00:02.002", "q2@10:00:02.50"]);
      assert.deepEqual(await list("category=click&session_id=q1&from=2021-09-26%2010:00:02.000001"), ["q1@10:00:03.00"]);
      // Page by 2 through everything: no loss, no repeat.
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const page: any = ok(await call(p, "GET", `/v1/events?limit=2${after ? `&after=${encodeURIComponent(after)}` : ""}`, undefined, acct.auth), 200, "page");
        seen.push(...page.data.map((e: any) => e.id));
        after = page.next_after;
      } while (after);
      assert.equal(seen.length, 6);
      assert.equal(new Set(seen).size, 6);
      // The seed's time-range request: a body with the initial and end times.
      const body = ok(await call(p, "POST", "/v1/events/query", { from: "2021-09-26 10:00:00", to: "2021-09-26 11:00:00", category: "party" }, acct.auth), 200, "query body");
      assert.deepEqual(body.data.map((e: any) => e.timestamp), ["2021-09-26T10:00:01.000000Z", "2021-09-26T10:00:02.500000Z"]);
      const sessions = ok(await call(p, "GET", "/v1/sessions?from=2021-09-26T11:00:00Z", undefined, acct.auth), 200, "sessions");
      assert.deepEqual(sessions.data.map((s: any) => [s.session_id, s.count, s.first_timestamp, s.last_timestamp]), [["q2", 2, "2021-09-26T10:00:02.500000Z", "2021-09-26T12:00:00.000000Z"]]);
      const all = ok(await call(p, "GET", "/v1/sessions", undefined, acct.auth), 200, "all sessions");
      assert.deepEqual(all.data.map((s: any) => s.session_id).sort(), ["q1", "q2"]);
    });

    test("bad query input is a 4xx naming the field", async () => {
      const acct = await account(p);
      ok(await call(p, "POST", "/v1/events", event("b1", "2021-09-26T10:00:00Z"), acct.auth), 201, "store");
      for (const [query, status, code, field] of [
        ["from=yesterday", 422, "invalid_time", "from"],
        ["from=2021-02-30T00:00:00Z", 422, "invalid_time", "from"],
        ["from=2021-09-27T00:00:00Z&to=2021-09-26T00:00:00Z", 422, "invalid_time", "to"],
        ["limit=0", 422, "invalid_query", "limit"],
        ["limit=1001", 422, "invalid_query", "limit"],
        ["after=garbage", 422, "invalid_query", "after"],
        ["session_id=a&session_id=b", 422, "invalid_query", "session_id"],
        ["session_id=nobody", 404, "session_not_found", "session_id"],
      ] as const) {
        const body = problem(await call(p, "GET", `/v1/events?${query}`, undefined, acct.auth), status, code, query);
        assert.equal(body.field, field, query);
      }
      problem(await call(p, "POST", "/v1/events/query", { from: 5 }, acct.auth), 422, "invalid_field", "from as a number");
      problem(await call(p, "POST", "/v1/events/query", { when: "today" }, acct.auth), 422, "unknown_field", "an unknown field");
      problem(await call(p, "POST", "/v1/events/query", { session_id: "b1\u0000" }, acct.auth), 422, "invalid_field", "a NUL in a filter");
      problem(await call(p, "GET", "/v1/events?name=App%00Name", undefined, acct.auth), 400, "bad_request", "a NUL in the query string");
      problem(await call(p, "GET", "/v1/sessions/nobody", undefined, acct.auth), 404, "session_not_found", "unknown session");
      problem(await call(p, "GET", "/v1/events/evt_nope", undefined, acct.auth), 404, "event_not_found", "unknown event");
      problem(await call(p, "GET", "/v1/events"), 422, "missing_account_id", "the admin without account_id");
    });

    test("an account sees only its own events; the admin names the account", async () => {
      const a = await account(p);
      const b = await account(p);
      const id = ok(await call(p, "POST", "/v1/events", event("mine", "2021-09-26T10:00:00Z"), a.auth), 201, "a's event").events[0].id;
      problem(await call(p, "GET", `/v1/events/${id}`, undefined, b.auth), 404, "event_not_found", "b reads a's event");
      problem(await call(p, "GET", "/v1/sessions/mine", undefined, b.auth), 404, "session_not_found", "b reads a's session");
      problem(await call(p, "GET", `/v1/events?account_id=${a.id}`, undefined, b.auth), 404, "account_not_found", "b names a's account");
      assert.equal(ok(await call(p, "GET", "/v1/events", undefined, b.auth), 200, "b's own").data.length, 0);
      assert.equal(ok(await call(p, "GET", `/v1/events?account_id=${a.id}`), 200, "admin").data[0].id, id);
      ok(await call(p, "POST", `/v1/events?account_id=${b.id}`, event("admin-sent", "2021-09-26T10:00:00Z")), 201, "the admin sends for b");
      assert.equal(ok(await call(p, "GET", "/v1/sessions/admin-sent", undefined, b.auth), 200, "b sees it").count, 1);
    });

    test("concurrent batches into one session lose and double nothing, and come back in time order", async () => {
      const acct = await account(p);
      const writers = 8;
      const perBatch = 25;
      const batches = Array.from({ length: writers }, (_, w) =>
        Array.from({ length: perBatch }, (_, i) => {
          // Timestamps interleave across writers, so commit order is not time order.
          const us = (i * writers + ((w * 7) % writers)) * 1000 + w;
          return event("race", `2021-09-26T10:00:00.${String(us % 1_000_000).padStart(6, "0")}Z`, { id: `w${w}-${i}`, data: { w, i } });
        }),
      );
      const answers = await Promise.all(batches.map((b) => call(p, "POST", "/v1/events", b, acct.auth)));
      for (const a of answers) ok(a, 201, "a writer");
      const stored: any[] = [];
      let after: string | null = null;
      do {
        const page: any = ok(await call(p, "GET", `/v1/events?session_id=race&limit=1000${after ? `&after=${after}` : ""}`, undefined, acct.auth), 200, "page");
        stored.push(...page.data);
        after = page.next_after;
      } while (after);
      assert.equal(stored.length, writers * perBatch);
      assert.equal(new Set(stored.map((e) => e.client_id)).size, writers * perBatch);
      const times = stored.map((e) => e.timestamp);
      assert.deepEqual(times, [...times].sort());
      assert.equal(ok(await call(p, "GET", "/v1/sessions/race", undefined, acct.auth), 200, "summary").count, writers * perBatch);
    });

    test("a stored event fans out to the destinations subscribed to its category: the whole event, its id in webhook-id", async () => {
      const acct = await account(p);
      const tag = `/events-${Date.now()}`;
      ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}${tag}/party`, event_types: ["party"] }, acct.auth), 201, "party destination");
      ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}${tag}/clicks`, event_types: ["click.*"] }, acct.auth), 201, "click destination");
      const sent = ok(await call(p, "POST", "/v1/events", [event("fan", "2021-09-26 09:15:27.243860"), event("fan", "2021-09-26 09:15:28", { category: "click.button" })], acct.auth), 201, "store");
      const [party, click] = sent.events.map((e: any) => e.id);
      const at = (path: string) => receiver.requests.filter((r) => new URL(r.url).pathname === `${tag}/${path}`);
      await eventually(() => at("party").length === 1 && at("clicks").length === 1, 10_000, "both deliveries");
      const body = JSON.parse(at("party")[0]!.body);
      assert.equal(body.id, party);
      assert.equal(body.timestamp, "2021-09-26T09:15:27.243860Z");
      assert.deepEqual(body.data, { host: "www.party.com", path: "/" });
      assert.equal(JSON.parse(at("clicks")[0]!.body).id, click);
      const webhookId = String(at("party")[0]!.headers["webhook-id"]);
      assert.equal(webhookId.slice(3, 13), party.slice(4, 14), "the postback id is based on the event id");
      // Recorded just after the receiver answered.
      await eventually(async () => ok(await call(p, "GET", `/v1/postbacks/${webhookId}`, undefined, acct.auth), 200, "the postback").state === "delivered", 10_000, "delivered");
    });

    test("events stored by a process that died before fanning out are fanned out by the next one", async () => {
      const acct = await account(p);
      const tag = `/orphans-${Date.now()}`;
      ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}${tag}`, event_types: ["party"] }, acct.auth), 201, "destination");
      // As a process that stored the event (outbox entry included) and died at once would leave it.
      const now = Date.now();
      const id = newEventId(now);
      await p.backends.stores.events.insertEvents([
        { id, accountId: acct.id, clientId: null, sessionId: "orphan", category: "party", name: "AppName", data: '{"a":1}', timestampUs: 1_632_647_727_243_860, receivedAt: now },
      ]);
      // This process's sweep takes events older than its grace (5 s): the one that stored them had its chance.
      await eventually(() => receiver.requests.some((r) => new URL(r.url).pathname === tag), 15_000, "the orphan's delivery");
      const delivered = receiver.requests.filter((r) => new URL(r.url).pathname === tag);
      assert.equal(delivered.length, 1);
      assert.equal(JSON.parse(delivered[0]!.body).id, id);
      assert.deepEqual(await p.backends.stores.events.pendingFanout(100), [], "the outbox is empty");
    });

    test("deleting an account deletes its events and event types", async () => {
      const acct = await account(p);
      ok(await call(p, "PUT", "/v1/event-types/party", { schema: { type: "object" } }, acct.auth), 201, "a schema");
      ok(await call(p, "POST", "/v1/events", [event("gone", "2021-09-26T10:00:00Z"), event("gone", "2021-09-26T10:00:01Z")], acct.auth), 201, "store");
      assert.equal((await call(p, "DELETE", `/v1/accounts/${acct.id}`)).status, 204);
      const events = p.backends.stores.events;
      await eventually(async () => (await events.queryEvents({ accountId: acct.id, limit: 10 })).length === 0, 10_000, "its events gone");
      await eventually(async () => (await events.listEventTypes(acct.id, { after: undefined, limit: 10 })).length === 0, 10_000, "its event types gone");
      assert.equal(await events.sessionSummary(acct.id, "gone"), undefined);
    });

    test("retention deletes events received longer ago than the account's retention, never those still owed a fan-out", async () => {
      const keep = await account(p, { event_retention_ms: 0 });
      const short = await account(p, { event_retention_ms: 60_000 });
      const byDefault = await account(p);
      for (const a of [keep, short, byDefault]) {
        ok(await call(p, "POST", "/v1/events", [event("old", "2021-09-26T10:00:00Z"), event("old", "2021-09-26T10:00:01Z")], a.auth), 201, "store");
      }
      await eventually(async () => (await p.backends.stores.events.pendingFanout(1)).length === 0, 10_000, "fan-out done");
      // Two minutes on: past the short retention, within the default 30 days.
      const later = Date.now() + 2 * 60_000;
      const result = await deleteExpiredEvents(p.backends, { defaultRetentionMs: p.config.event_retention, batch: 1, now: later });
      assert.equal(result.byAccount.get(short.id), 2);
      assert.equal(result.byAccount.has(keep.id), false);
      assert.equal(result.byAccount.has(byDefault.id), false);
      problem(await call(p, "GET", "/v1/sessions/old", undefined, short.auth), 404, "session_not_found", "gone");
      assert.equal(ok(await call(p, "GET", "/v1/sessions/old", undefined, keep.auth), 200, "kept").count, 2);
      // 31 days on: the default takes the third account's too; 0 still keeps forever.
      const much = await deleteExpiredEvents(p.backends, { defaultRetentionMs: p.config.event_retention, batch: 500, now: Date.now() + 31 * 24 * 3_600_000 });
      assert.equal(much.byAccount.get(byDefault.id), 2);
      assert.equal(much.byAccount.has(keep.id), false);
    });
  });
}
