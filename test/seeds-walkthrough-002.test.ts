/**
 * docs/seeds.md's "Seed 002: Data Pusher" walk-through, run as written against a real `ferry
 * start` (SQLite) and a real receiver: Data Pusher's README requests, and the data reaching the
 * GET and POST destinations with their headers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runWalkthrough } from "./support/walkthrough.js";

const README_HEADERS = { app_id: "1234APPID1234", app_sectet: "enwdj3bshwer43bjhjs9ereuinkjcnsiurew8s", action: "user.update", accept: "*" };

test("Seed 002 (Data Pusher): the README's requests work as written, and the receiver gets the data with the destination's headers", async () => {
  const run = await runWalkthrough("Seed 002");
  try {
    const json = (text: string) => text.trim().split("\n").map((line) => JSON.parse(line));
    const [created, fetched, destinations, listed, sent, patched, delivered, deletedDestination, changed, refused] = run.outputs;
    const [account] = json(created!);
    assert.equal(account.status, true);
    assert.equal(account.message, "Account Created Successfully");
    assert.match(account.data.account_id, /^acct_/);
    assert.match(account.data.secret_token, /^ferry_live_/);
    assert.deepEqual(json(fetched!)[0], { status: true, data: account.data }, "GET /account/ shows the same secret_token");
    assert.deepEqual(json(destinations!).map((d) => [d.message, d.data.http_method]), [["Destination Created Successfully", "GET"], ["Destination Created Successfully", "POST"]]);
    assert.equal(json(listed!)[0].data.length, 2);
    assert.deepEqual(json(sent!).map((s) => [s.status, s.postbacks.length]), [[true, 2], [true, 2]]);
    const [update, push] = json(patched!);
    assert.equal(update.message, "Updated Successfully");
    assert.equal(push.postbacks.length, 2);
    const states = delivered!.trim().split("\n");
    assert.equal(states.length, 6);
    for (const line of states) assert.match(line, /^pb_\S+ delivered$/);
    assert.deepEqual(json(deletedDestination!), [{ status: true, message: "Deleted Successfully" }]);
    assert.deepEqual(json(changed!), [{ status: true, message: "Updated Successfully" }, { status: true, message: "Deleted Successfully" }]);
    assert.match(refused!, /^\{"status":false,"message":"[^"]+","code":"invalid_token"\} 401$/m);

    // What the receiver got: the GET destination the fields as a URL-encoded query, the POST one
    // the JSON body; both the README's headers.
    const byPath = (method: string, path: string) => run.received.filter((r) => r.method === method && r.url.split("?")[0] === path);
    const gets = byPath("GET", "/google").map((r) => r.url).sort();
    assert.deepEqual(gets, ["/google?user_id=7&name=Gangadhar%20%26%20co", "/google?user_id=8&action=update"]);
    assert.deepEqual(byPath("GET", "/facebook").map((r) => r.url), ["/facebook?user_id=9"]);
    const posts = byPath("POST", "/google").map((r) => JSON.parse(r.body)).sort((a, b) => a.user_id - b.user_id);
    assert.deepEqual(posts, [{ user_id: 7, name: "Gangadhar & co" }, { user_id: 8, action: "update" }, { user_id: 9 }]);
    for (const r of run.received) {
      for (const [name, value] of Object.entries(README_HEADERS)) assert.equal(r.headers[name], value, `${r.method} ${r.url} ${name}`);
    }
    assert.equal(run.received.length, 6);
  } finally {
    await run.stop();
  }
});
