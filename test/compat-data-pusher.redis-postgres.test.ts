/**
 * Data Pusher (seed 002) compatibility on Redis + Postgres: the core flow of its README (an
 * account, a GET and a POST destination, data through /server/incoming_data) reaches a real
 * receiver with the destinations' headers, and one account's token cannot reach another's.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import type { Pipeline } from "./support/harness.js";
import { call, coreFlow, done, readmeAccount, refused, startDataPusher } from "./e2e/data-pusher.js";

const redis = await startRedis();
const database = await createDatabase("ferry_dp");

describe("Data Pusher compatibility (Redis and Postgres)", () => {
  let receiver: Receiver;
  let p: Pipeline;
  before(async () => {
    receiver = await startReceiver();
    p = await startDataPusher({ redis_url: redis.url, redis_prefix: "dp", database_url: database.url, migrate_on_start: true });
  });
  after(async () => {
    await p.stop();
    await receiver.close();
    await redis.close();
    await database.drop();
  });

  test("the core flow: GET and POST destinations get the data with their headers", async () => {
    await coreFlow(p, receiver, "/dp-rp");
  });

  test("one account's secret token cannot touch another's destinations (404), and secret_token is shown again", async () => {
    const mine = await readmeAccount(p, 20);
    const theirs = await readmeAccount(p, 21);
    const d = done(await call(p, "POST", "/destination/", { account_id: theirs.id, url: `${receiver.url}/theirs`, http_method: "POST", headers: {} }, theirs.auth), "theirs");
    refused(await call(p, "PATCH", "/destination/", { destination_id: d.data.id, url: `${receiver.url}/x`, secret_token: mine.token }, {}), 404, "destination_not_found", "PATCH");
    refused(await call(p, "GET", `/destination/?account_id=${theirs.id}`, undefined, mine.auth), 404, "account_not_found", "GET");
    assert.equal(done(await call(p, "GET", `/account/?account_id=${theirs.id}`), "GET account").data.secret_token, theirs.token);
  });
});
