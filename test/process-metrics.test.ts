/**
 * Metrics and profiling of real `ferry` processes: FERRY_METRICS_PORT answers /metrics with no
 * token; in `ferry start` the delivery thread's counters reach the main thread's scrape; a
 * `ferry worker`, which has no API, is scraped on that port and takes a CPU profile on SIGUSR2.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./support/harness.js";
import { freePort, ingest, killAll, startServer, startWorker, until } from "./support/processes.js";
import { samples, total } from "./support/prometheus.js";
import { startReceiver } from "../src/receiver.js";

const TOKEN = "metrics-process-test-admin-token-0123";

after(killAll);

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

test("ferry start: FERRY_METRICS_PORT serves /metrics with no token, the delivery thread's counters included", async () => {
  const dir = tempDir();
  const receiver = await startReceiver();
  const metricsPort = await freePort();
  const server = await startServer("start", {
    FERRY_DATA_DIR: dir.path,
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_METRICS_PORT: String(metricsPort),
    FERRY_ALLOW_PRIVATE_DESTINATIONS: "true",
  });
  try {
    const n = 5;
    const res = await ingest(server.url, TOKEN, { endpoint: { method: "POST", url: `${receiver.url}/hook` }, data: Array.from({ length: n }, (_, i) => ({ i })) });
    assert.equal(res.status, 202);
    await receiver.waitFor(n);
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    let text = "";
    await until(
      async () => {
        const scraped = await get(metricsUrl);
        assert.equal(scraped.status, 200);
        assert.match(scraped.type, /^text\/plain/);
        text = scraped.body;
        return total(text, "ferry_attempts_total", { outcome: "delivered" }) === n;
      },
      10_000,
      () => `${n} delivered in the metrics:\n${text}`,
    );
    // Counted in the worker thread, scraped through the main thread; every sample says its role.
    assert.equal(total(text, "ferry_attempt_duration_seconds_count", { role: "start" }), n);
    assert.equal(total(text, "ferry_postbacks_ingested_total", { route: "ingest", role: "start" }), n);
    assert.ok(samples(text, "ferry_process_cpu_user_seconds_total", { role: "start" }).length === 1, "process metrics");
    assert.ok(samples(text, "ferry_nodejs_eventloop_lag_seconds", { role: "start" }).length === 1, "event-loop lag");
    assert.ok(samples(text, "ferry_queue_depth", { state: "ready" }).length === 1);
    assert.equal(samples(text, "ferry_delivery_thread_eventloop_lag_seconds", { role: "start" }).length, 3, "the delivery thread's own event-loop lag");
    const families = text.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]);
    assert.equal(new Set(families).size, families.length, "no metric family appears twice");

    assert.equal((await get(`http://127.0.0.1:${metricsPort}/`)).status, 404, "only /metrics on the metrics port");
    assert.equal((await get(`${server.url}/metrics`)).status, 401, "the API port's /metrics still needs the token");
    const withToken = await get(`${server.url}/metrics`, { authorization: `Bearer ${TOKEN}` });
    assert.equal(withToken.status, 200);
    assert.equal(total(withToken.body, "ferry_attempts_total", { outcome: "delivered" }), n);
  } finally {
    await server.stop();
    await receiver.close();
    dir.cleanup();
  }
});

test("ferry worker: scraped on FERRY_METRICS_PORT with role worker; SIGUSR2 writes a 10 s CPU profile to the data dir", async () => {
  const dir = tempDir();
  const metricsPort = await freePort();
  const worker = await startWorker({
    FERRY_DATA_DIR: dir.path,
    FERRY_METRICS_PORT: String(metricsPort),
    FERRY_HOST: "127.0.0.1",
  });
  try {
    const scraped = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(scraped.status, 200);
    assert.equal(total(scraped.body, "ferry_postbacks_in_flight", { role: "worker" }), 0);
    assert.equal(samples(scraped.body, "ferry_queue_depth", { role: "worker", state: "ready" }).length, 1);
    assert.equal(samples(scraped.body, "ferry_http_request_duration_seconds_count").length, 0, "a worker has no API");

    worker.signal("SIGUSR2");
    const [line] = await worker.waitForOutput(/^.*"msg":"CPU profile written".*$/m, 30_000);
    const path = JSON.parse(line).path as string;
    assert.equal(readdirSync(join(dir.path, "profiles")).length, 1);
    const profile = JSON.parse(readFileSync(path, "utf8"));
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0);
    assert.ok(profile.endTime - profile.startTime >= 9_000_000, "about 10 s, in microseconds");
  } finally {
    await worker.stop();
    dir.cleanup();
  }
});
