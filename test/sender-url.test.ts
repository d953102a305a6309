/**
 * The worker's own check of the URL it is about to send: a URL whose host is not the one its
 * text names (WHATWG parsing reads "http:///127.0.0.1:PORT/hook" as host 127.0.0.1:PORT) is
 * recorded as invalid_url and dead at once, and nothing is sent. Ingest refuses such URLs
 * already; these postbacks are put in the queue directly, as one queued before that check (or
 * a destination template rendered with push data) would be. Private destinations are allowed,
 * so the URL check is all that stands between the postback and the receiver on 127.0.0.1.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, eventually, startPipeline } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";
import { endpointId, newPostbackId } from "../src/core/ids.js";
import type { Endpoint } from "../src/core/types.js";

test("a queued postback whose URL has an empty host is dead with invalid_url, never sent", async (t) => {
  const receiver = await startReceiver();
  const p = await startPipeline({ allow_private_destinations: true }, { worker: false });
  t.after(async () => {
    await p.stop();
    await receiver.close();
  });
  const hostPort = new URL(receiver.url).host; // 127.0.0.1:PORT
  const urls = [`http:///${hostPort}/hook`, `http:/${hostPort}/hook`, `http://${hostPort}/fine`];
  const ids: string[] = [];
  for (const url of urls) {
    const content: Omit<Endpoint, "id"> = { method: "GET", url, defaultValue: "", maxAttempts: 5 };
    const id = newPostbackId();
    ids.push(id);
    await p.backends.queue.enqueue({ endpoint: { id: endpointId(content), ...content }, postbacks: [{ id, data: "{}" }], createdAt: Date.now() });
  }
  p.startWorker();
  const views = await Promise.all(
    ids.map((id) =>
      eventually(async () => {
        const v = (await p.app.inject({ method: "GET", url: `/v1/postbacks/${id}`, headers: AUTH })).json();
        return v.state === "delivered" || v.state === "dead" ? v : undefined;
      }),
    ),
  );
  for (const [i, url] of urls.slice(0, 2).entries()) {
    const v = views[i] as any;
    assert.equal(v.state, "dead", url);
    assert.equal(v.reason, "invalid_url", url);
    assert.equal(v.attempts.length, 1, `${url}: not retried`);
    assert.match(v.attempts[0].error_message, /no host/, url);
  }
  // The control: the same receiver, written properly, is reached.
  assert.equal((views[2] as any).state, "delivered");
  assert.deepEqual(receiver.requests.map((r) => new URL(r.url).pathname), ["/fine"]);
});
