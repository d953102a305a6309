/**
 * The sender's exchange on undici's dispatch(): the body's start kept (a character cut by the
 * limit left out), a timeout that covers the whole exchange (headers come, the body stalls; a
 * request still waiting for a connection), an abort (shutdown) told apart from a timeout, a
 * body over the drain limit dropped with its connection, Retry-After and Location kept and no
 * redirect followed. Real HTTP servers on 127.0.0.1; nothing is mocked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Sender, type Outgoing } from "../src/delivery/sender.js";
import { DRAIN_LIMIT } from "../src/delivery/exchange.js";
import { Targets } from "../src/delivery/targets.js";
import { checkHttpUrl } from "../src/core/template.js";
import { AUTH, eventually, startPipeline } from "./support/harness.js";
import { endpointId, newPostbackId } from "../src/core/ids.js";
import type { Endpoint } from "../src/core/types.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: { after(fn: () => unknown): void }, handler: Handler): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

function sender(t: { after(fn: () => unknown): void }, responseBodyBytes = 100, connectionsPerOrigin = 4): Sender {
  const s = new Sender({ connectionsPerOrigin, responseBodyBytes, allowPrivate: true });
  t.after(() => s.destroy());
  return s;
}

const get = (url: string, timeoutMs = 5000): Outgoing => ({ method: "GET", url, headers: [], body: undefined, timeoutMs });

test("keeps the body's first bytes, leaving out a character the limit cuts in two", async (t) => {
  // "€" is 3 bytes in UTF-8: a limit of 5 keeps "abcd" and one byte of it.
  const euro = Buffer.from("€");
  const bodies: Record<string, (string | Buffer)[]> = {
    "/cut": ["abcd€xyz"],
    // The euro sign split between chunks, within the limit: whole.
    "/split": ["a", euro.subarray(0, 2), euro.subarray(2), "bcd"],
    // Cut by the limit in the second chunk.
    "/chunks": ["ab", "c€", "déf"],
    "/short": ["héla"],
    "/ascii": ["plain"],
    "/empty": [],
  };
  const { url } = await serve(t, (req, res) => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    const parts = bodies[req.url!]!;
    // Written apart, so the client may get them as separate chunks.
    let i = 0;
    const next = () => (i < parts.length ? res.write(parts[i++], () => setTimeout(next, 5)) : res.end());
    next();
  });
  const s = sender(t, 5);
  assert.equal((await s.send(get(`${url}/cut`))).responseBody, "abcd");
  assert.equal((await s.send(get(`${url}/split`))).responseBody, "a€b");
  assert.equal((await s.send(get(`${url}/chunks`))).responseBody, "abc");
  assert.equal((await s.send(get(`${url}/short`))).responseBody, "héla");
  assert.equal((await s.send(get(`${url}/ascii`))).responseBody, "plain");
  const empty = await s.send(get(`${url}/empty`));
  assert.equal(empty.responseBody, "");
  assert.deepEqual(empty.result, { kind: "response", status: 200, retryAfter: undefined });
  // The shared decoder starts afresh each time: a cut character does not leak into the next body.
  assert.equal((await s.send(get(`${url}/cut`))).responseBody, "abcd");
  assert.equal((await s.send(get(`${url}/ascii`))).responseBody, "plain");
});

test("a response slower than the timeout mid-body is a timeout, not an answer", async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200);
    res.write("the start, then nothing");
  });
  const s = sender(t);
  const t0 = Date.now();
  const exchange = s.start(get(`${url}/slow`, 300));
  const sent = await exchange.result;
  const took = Date.now() - t0;
  assert.equal(exchange.cutShort, "timeout");
  assert.deepEqual(sent.result, { kind: "error", code: "timeout", message: "no complete response within the timeout" });
  assert.equal(sent.responseBody, null);
  assert.ok(took >= 290 && took < 2000, `settled after ${took} ms`);
});

test("the timeout covers a request still waiting for a connection, which is then never sent", async (t) => {
  const hanging: ServerResponse[] = [];
  const { url, requests } = await serve(t, (_req, res) => void hanging.push(res));
  // One connection: the second request waits in undici's queue behind the first.
  const s = sender(t, 100, 1);
  const first = s.start(get(`${url}/first`, 5000));
  await eventually(() => requests.length === 1);
  const t0 = Date.now();
  const second = s.start(get(`${url}/second`, 200));
  const sent = await second.result;
  assert.ok(Date.now() - t0 < 2000, "the waiting request timed out on its own timer");
  assert.equal(second.cutShort, "timeout");
  assert.equal(sent.result.kind === "error" && sent.result.code, "timeout");
  // The first is aborted (as on shutdown): the connection frees, and the second is not sent.
  first.abort();
  assert.equal(first.cutShort, "aborted");
  assert.equal((await first.result).result.kind, "error");
  const after = await s.send(get(`${url}/third`, 200));
  assert.equal(after.result.kind, "error", "the third hangs too (nobody answers)");
  assert.deepEqual(requests, ["/first", "/third"]);
});

test("abort ends a hanging request at once and is told apart from a timeout", async (t) => {
  const { url, requests } = await serve(t, () => {});
  const s = sender(t);
  const exchange = s.start(get(`${url}/hang`, 10_000));
  await eventually(() => requests.length === 1);
  const t0 = Date.now();
  exchange.abort();
  const sent = await exchange.result;
  assert.ok(Date.now() - t0 < 100);
  assert.equal(exchange.cutShort, "aborted");
  assert.equal(sent.result.kind, "error");
  exchange.abort(); // a second abort changes nothing
  assert.equal(exchange.cutShort, "aborted");
});

test("a body over the drain limit is answered with its start and its connection dropped", async (t) => {
  let closed = false;
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024, "x");
  const { url } = await serve(t, (req, res) => {
    req.socket.on("close", () => (closed = true));
    res.writeHead(200, { "retry-after": "7" });
    // Far more than the drain limit, written as fast as the client reads.
    const pump = () => {
      while (written < 64 * DRAIN_LIMIT && !closed) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
  const s = sender(t, 10);
  const exchange = s.start(get(`${url}/big`, 10_000));
  const sent = await exchange.result;
  assert.deepEqual(sent.result, { kind: "response", status: 200, retryAfter: "7" });
  assert.equal(sent.responseBody, "xxxxxxxxxx");
  assert.equal(exchange.cutShort, undefined);
  await eventually(() => closed, 5000, "the connection to be dropped");
  assert.ok(written < 16 * DRAIN_LIMIT, `the server wrote ${written} bytes before the connection dropped`);
});

test("a 3xx is the answer, its Location kept and never followed; Retry-After kept", async (t) => {
  const { url, requests } = await serve(t, (req, res) => {
    if (req.url === "/moved") res.writeHead(302, { location: "/elsewhere", "retry-after": "3" }).end("see elsewhere");
    else res.writeHead(429, { "retry-after": "120" }).end();
  });
  const s = sender(t);
  const moved = await s.send(get(`${url}/moved`));
  assert.deepEqual(moved.result, { kind: "response", status: 302, retryAfter: "3", location: "/elsewhere" });
  assert.equal(moved.responseBody, "see elsewhere");
  const limited = await s.send(get(`${url}/limited`));
  assert.deepEqual(limited.result, { kind: "response", status: 429, retryAfter: "120" });
  assert.deepEqual(requests, ["/moved", "/limited"]);
});

test("headers go as given (a flat list), the body with them; a refused URL sends nothing", async (t) => {
  const seen: { headers: Record<string, unknown>; body: string }[] = [];
  const { url, requests } = await serve(t, (req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ headers: req.headers, body });
      res.end("ok");
    });
  });
  const s = sender(t);
  const sent = await s.send({ method: "POST", url: `${url}/in?a=1`, headers: ["x-one", "1", "content-type", "application/json"], body: '{"a":1}', timeoutMs: 5000 });
  assert.equal(sent.responseBody, "ok");
  assert.equal(seen[0]!.headers["x-one"], "1");
  assert.equal(seen[0]!.headers["content-type"], "application/json");
  assert.equal(seen[0]!.body, '{"a":1}');
  const bad = await s.send(get(`http:///${new URL(url).host}/x`));
  assert.equal(bad.result.kind === "error" && bad.result.code, "invalid_url");
  const badHeader = await s.send({ ...get(`${url}/h`), headers: ["x-bad", "a\r\nb"] });
  assert.equal(badHeader.result.kind === "error" && badHeader.result.code, "invalid_url");
  assert.deepEqual(requests, ["/in?a=1"]);
});

test("the URL check, asked once per authority, answers as checkHttpUrl on the whole URL", () => {
  const urls = [
    "http://h", "https://h/", "HTTP://H/x?y=1#z", "http://127.0.0.1:9000/data", "http://[::1]/", "https://sample_domain_endpoint.com/data?title=Gopher&foo=",
    "ftp://h/file", "file:///etc/passwd", "javascript:alert(1)", "/relative/path", "http://", "http://not%20a%20host/x", "",
    "http:///127.0.0.1:9999/hook", "http:///x", "https:///x?y", "http:/x/y", "http:x", "http:\\\\x/y", "http://@/x", "http://u@:80/x",
    "http://2130706433/", "http://0x7f.1/", "http://127.1:9999/", "http://partner%2eexample/", "http://part\tner.example/", "http://partner.example./",
    "http://a.com/x@evil.com/", "http://u:p@a.com/x", "http://a@b@c.com/x", "http://a.com:99999/x", "http://a.com:80x/y", "http://a.com:/x",
    "http://a.com\\x", "http://a.com?q", "http://a.com#f", "http://a.com /x", "http://a.com/x ", " http://a.com/x", "http://\t/x", "http://a.com\n/x",
    "http://[::1/x", "http://ünïcode.example/x", "http://xn--nicode-2ya.example/x", "http://a..b/x", "http://%41.com/x", "https://a.com:443/x", "http://a.com:443/x",
  ];
  for (const round of [1, 2]) {
    const targets = new Targets();
    for (const url of urls) {
      // Each URL twice: the second answer comes from the cache.
      assert.equal(targets.check(url), checkHttpUrl(url), `${JSON.stringify(url)} (round ${round})`);
      assert.equal(targets.check(url), checkHttpUrl(url), `${JSON.stringify(url)} again`);
      // And after another URL of the same authority filled the cache.
      const other = url.replace(/(\/x|\?q|#f|\/)$/, "/other?z=1");
      if (other !== url) assert.equal(targets.check(other), checkHttpUrl(other), JSON.stringify(other));
    }
  }
  const target = new Targets().target("http://a.com:80/p/../q?x=1#frag");
  assert.deepEqual(target, { origin: "http://a.com", path: "/q?x=1" });
});

test("a worker stopping aborts a hanging delivery after its grace and gives it back, unattempted", async (t) => {
  const { url, requests } = await serve(t, () => {});
  const p = await startPipeline({ timeout_ms: 60_000, lease_ms: 180_000 }, { worker: false });
  t.after(() => p.stop());
  const content: Omit<Endpoint, "id"> = { method: "GET", url: `${url}/hang`, defaultValue: "", maxAttempts: 5 };
  const id = newPostbackId();
  await p.backends.queue.enqueue({ endpoint: { id: endpointId(content), ...content }, postbacks: [{ id, data: "{}" }], createdAt: Date.now() });
  const worker = p.startWorker();
  await eventually(() => requests.length === 1);
  const t0 = Date.now();
  await worker.stop(100);
  const took = Date.now() - t0;
  assert.ok(took >= 90 && took < 5000, `stopped after ${took} ms`);
  assert.equal(worker.counts.attempts, 0);
  assert.equal(worker.counts.released, 1);
  const view = (await p.app.inject({ method: "GET", url: `/v1/postbacks/${id}`, headers: AUTH })).json();
  assert.equal(view.attempts.length, 0);
});

test("through a proxy, the request goes to the proxy with the destination's absolute URL", async (t) => {
  const { url: proxy, requests } = await serve(t, (req, res) => res.writeHead(200, { "retry-after": "1" }).end(`via proxy: ${req.headers["x-one"]}`));
  const s = new Sender({ connectionsPerOrigin: 2, responseBodyBytes: 100, proxyUrl: proxy });
  t.after(() => s.destroy());
  const sent = await s.send({ method: "GET", url: "http://partner.example:8080/hook?a=1", headers: ["x-one", "1"], body: undefined, timeoutMs: 5000 });
  assert.deepEqual(sent.result, { kind: "response", status: 200, retryAfter: "1" });
  assert.equal(sent.responseBody, "via proxy: 1");
  assert.deepEqual(requests, ["http://partner.example:8080/hook?a=1"]);
});
