/**
 * `npm run bench:queue`: Ferry's Redis queue against BullMQ on the same seed-shaped workload,
 * the measurement the choice of queue rests on. Each variant runs on a redis-server of its own, started afresh for each
 * measurement (test/support/redis.ts: a password, AOF with appendfsync always), so its INFO
 * counters count that measurement alone:
 *
 *   1. flow: the consumer running in a worker thread (a worker process beside the API),
 *      BENCH_BATCHES ingest requests of 10 data objects enqueued by BENCH_PRODUCERS concurrent
 *      producers. Reports postbacks/s enqueued, postbacks/s end to end (first enqueue → last
 *      postback settled), bytes to and from Redis per postback (INFO total_net_input_bytes +
 *      total_net_output_bytes), Redis CPU per postback (used_cpu_user + used_cpu_sys), and the
 *      used_memory left once everything is settled (what keeping completed jobs costs).
 *   2. backlog: BENCH_BACKLOG postbacks enqueued with no consumer; reports used_memory per
 *      queued postback and the enqueue rate alone.
 *
 *   BENCH_BATCHES=5000 BENCH_BACKLOG=100000 BENCH_PRODUCERS=16 npm run bench:queue
 *
 * Variants: Ferry's RedisQueue (src/queue/redis.ts) with 4 concurrent reserve(128) → settle
 * loops; BullMQ with a plain job per postback (BullMQ's ids, default options: the issue's
 * "about 23×"); BullMQ with a job per postback as Ferry would need it (jobId = postback id so
 * GET /v1/postbacks/{id} finds it, Ferry's 12 attempts with exponential backoff, failed jobs
 * kept), removeOnComplete true or false; BullMQ with one job per ingest request (no
 * per-postback retry, lease or lookup). The processors do nothing and nothing goes over HTTP:
 * this measures the queue alone.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { Worker as Thread, isMainThread, parentPort, workerData } from "node:worker_threads";
import { Redis } from "ioredis";
import { Queue as BullQueue, Worker as BullWorker, type Job } from "bullmq";
import { RedisQueue } from "../src/queue/redis.js";
import type { Reservation } from "../src/queue/port.js";
import type { Endpoint } from "../src/core/types.js";
import { endpointId, newPostbackId } from "../src/core/ids.js";
import { startRedis, type TestRedis } from "../test/support/redis.js";

const BATCHES = Number(process.env["BENCH_BATCHES"] ?? 5000);
const BACKLOG = Number(process.env["BENCH_BACKLOG"] ?? 100_000);
const PRODUCERS = Number(process.env["BENCH_PRODUCERS"] ?? 16);
const PER_BATCH = 10;
const FERRY_LOOPS = 4;
const FERRY_RESERVE = 128;
const FERRY_LEASE_MS = 60_000;
const FERRY_POLL_MS = 50; // FERRY_POLL_INTERVAL_MS's default
const BULL_CONCURRENCY = 64;
const MAX_ATTEMPTS = 12; // FERRY_MAX_ATTEMPTS's default

/** The seed's request: one endpoint, ten of these data objects. */
const DATA_OBJECT = { mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" };
const DATA_JSON = JSON.stringify(DATA_OBJECT);
const DATA_BYTES = Buffer.byteLength(DATA_JSON);
const REQUEST_ENDPOINT = { method: "GET", url: "http://sample_domain_endpoint.com/data?title={mascot}&image={location}&foo={bar}" } as const;
const ENDPOINT: Endpoint = {
  id: endpointId({ method: REQUEST_ENDPOINT.method, url: REQUEST_ENDPOINT.url, defaultValue: "", maxAttempts: MAX_ATTEMPTS }),
  method: REQUEST_ENDPOINT.method,
  url: REQUEST_ENDPOINT.url,
  defaultValue: "",
  maxAttempts: MAX_ATTEMPTS,
};

/** One ingest request as the API makes it: fresh ids, the data objects as JSON text. */
function ingestBatch(): { ids: string[]; data: string[] } {
  const now = Date.now();
  const ids = Array.from({ length: PER_BATCH }, () => newPostbackId(now));
  return { ids, data: ids.map(() => DATA_JSON) };
}

/** The API's side: enqueues ingest requests. */
interface Producer {
  /** Enqueues one ingest request. */
  enqueue(): Promise<void>;
  close(): Promise<void>;
}

/** The worker's side: settles whatever it gets at once (nothing is delivered). */
interface Consumer {
  close(): Promise<void>;
}

interface Variant {
  name: string;
  openProducer(url: string): Promise<Producer>;
  /** Runs in a worker thread of its own, like a worker process beside the API. */
  openConsumer(url: string, onSettled: (n: number) => void): Promise<Consumer>;
}

const ferry: Variant = {
  name: "Ferry RedisQueue (4 × reserve 128 → settle)",
  async openProducer(url) {
    const producer = await RedisQueue.connect(url);
    return {
      async enqueue() {
        const { ids, data } = ingestBatch();
        await producer.enqueue({ endpoint: ENDPOINT, postbacks: ids.map((id, i) => ({ id, data: data[i]! })), createdAt: Date.now() });
      },
      close: () => producer.close(),
    };
  },
  async openConsumer(url, onSettled) {
    const q = await RedisQueue.connect(url);
    let stopping = false;
    const loops = Array.from({ length: FERRY_LOOPS }, async () => {
      while (!stopping) {
        const rs: Reservation[] = await q.reserve(FERRY_RESERVE, FERRY_LEASE_MS);
        if (rs.length === 0) {
          await q.waitForWork(FERRY_POLL_MS);
          continue;
        }
        onSettled(await q.settle(rs.map((reservation) => ({ reservation, settle: { kind: "done" as const } }))));
      }
    });
    return {
      async close() {
        stopping = true;
        await Promise.allSettled(loops);
        await q.close();
      },
    };
  },
};

function bullConnection(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), password: decodeURIComponent(u.password), maxRetriesPerRequest: null };
}

const QUEUE_NAME = "postbacks";

/** Job options as a deployment would set them: Ferry's attempts, exponential backoff, failed jobs kept. */
const jobOptions = (removeOnComplete: boolean) => ({
  attempts: MAX_ATTEMPTS,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete,
  removeOnFail: false,
});

async function bullProducer(url: string, removeOnComplete: boolean, enqueue: (queue: BullQueue) => Promise<unknown>): Promise<Producer> {
  const queue = new BullQueue(QUEUE_NAME, { connection: bullConnection(url), defaultJobOptions: jobOptions(removeOnComplete) });
  await queue.waitUntilReady();
  return { enqueue: async () => void (await enqueue(queue)), close: () => queue.close() };
}

async function bullConsumer(url: string, onCompleted: (job: Job) => void): Promise<Consumer> {
  // The processor does nothing: the worker fetches, locks and completes, as it would around an HTTP request.
  const worker = new BullWorker(QUEUE_NAME, async () => {}, { connection: bullConnection(url), concurrency: BULL_CONCURRENCY });
  worker.on("completed", onCompleted);
  worker.on("error", () => {});
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}

/** BullMQ with one job per postback, as the issue measured it: ids from BullMQ's counter, default options (completed jobs kept). */
const bullPlain: Variant = {
  name: "BullMQ, job per postback, plain (BullMQ's ids, default options)",
  async openProducer(url) {
    const queue = new BullQueue(QUEUE_NAME, { connection: bullConnection(url) });
    await queue.waitUntilReady();
    return {
      enqueue: async () => void (await queue.addBulk(Array.from({ length: PER_BATCH }, () => ({ name: "postback", data: { endpoint: REQUEST_ENDPOINT, data: DATA_OBJECT } })))),
      close: () => queue.close(),
    };
  },
  openConsumer: (url, onSettled) => bullConsumer(url, () => onSettled(1)),
};

/** BullMQ with one job per postback, configured as Ferry would need it. */
function bullPerPostback(removeOnComplete: boolean): Variant {
  return {
    name: `BullMQ, job per postback, removeOnComplete ${removeOnComplete}`,
    openProducer: (url) =>
      bullProducer(url, removeOnComplete, (queue) => {
        const { ids } = ingestBatch();
        // The job id is the postback id: GET /v1/postbacks/{id} finds it, and a repeat is refused.
        return queue.addBulk(ids.map((id) => ({ name: "postback", data: { endpoint: REQUEST_ENDPOINT, data: DATA_OBJECT }, opts: { jobId: id } })));
      }),
    openConsumer: (url, onSettled) => bullConsumer(url, () => onSettled(1)),
  };
}

/** BullMQ with the whole ingest request as one job: fewer, larger jobs, but one lease and one retry for all ten. */
const bullPerRequest: Variant = {
  name: "BullMQ, job per ingest request, removeOnComplete true",
  openProducer: (url) =>
    bullProducer(url, true, (queue) => {
      const { ids } = ingestBatch();
      return queue.add("ingest", { endpoint: REQUEST_ENDPOINT, postbacks: ids.map((id) => ({ id, data: DATA_OBJECT })) });
    }),
  openConsumer: (url, onSettled) => bullConsumer(url, (job) => onSettled((job.data as { postbacks: unknown[] }).postbacks.length)),
};

const VARIANTS: Variant[] = [ferry, bullPlain, bullPerPostback(true), bullPerPostback(false), bullPerRequest];
/** Keeping completed jobs changes nothing while jobs wait: removeOnComplete false reuses the backlog of removeOnComplete true. */
const BACKLOG_OF: Record<number, number> = { 3: 2 };

/** The consumer's thread: reports settled postbacks (a message per event-loop turn), stops when told. */
async function consumerThread(): Promise<void> {
  const { variant, url } = workerData as { variant: number; url: string };
  const port = parentPort!;
  let pending = 0;
  const onSettled = (n: number) => {
    if (pending === 0) setImmediate(() => (port.postMessage(pending), (pending = 0)));
    pending += n;
  };
  const consumer = await VARIANTS[variant]!.openConsumer(url, onSettled);
  port.once("message", async () => {
    await consumer.close();
    port.postMessage("closed");
    port.close();
  });
  port.postMessage("ready");
}

/** Starts a consumer thread; resolves once it is connected and waiting for work. */
async function startConsumer(variant: number, url: string, settled: ReturnType<typeof counter>): Promise<{ stop(): Promise<void> }> {
  const thread = new Thread(new URL(import.meta.url), { workerData: { variant, url } });
  let closed: () => void;
  const isClosed = new Promise<void>((resolve) => (closed = resolve));
  await new Promise<void>((resolve, reject) => {
    thread.once("error", reject);
    // A consumer that fails later would leave the count short for ever: stop the bench instead.
    thread.on("error", (err) => {
      console.error(`consumer thread failed: ${err.stack ?? err.message}`);
      process.exit(1);
    });
    thread.on("message", (m: number | string) => {
      if (m === "ready") resolve();
      else if (m === "closed") closed();
      else settled.add(m as number);
    });
  });
  return {
    async stop() {
      thread.postMessage("stop");
      await Promise.race([isClosed, new Promise((r) => setTimeout(r, 10_000).unref())]);
      await thread.terminate();
    },
  };
}

/** Runs `total` enqueues, `concurrency` at a time (concurrent ingest requests). */
async function produce(producer: Producer, total: number, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) {
        next++;
        await producer.enqueue();
      }
    }),
  );
}

/** A count of settled postbacks and a way to wait until it reaches a number. */
function counter() {
  let count = 0;
  let waiter: { target: number; resolve: () => void } | undefined;
  return {
    add(n: number) {
      count += n;
      if (waiter && count >= waiter.target) {
        waiter.resolve();
        waiter = undefined;
      }
    },
    get count() {
      return count;
    },
    /** Resolves once `target` postbacks are settled; rejects after `timeoutMs`. */
    reach(target: number, timeoutMs = 300_000): Promise<void> {
      if (count >= target) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${count} of ${target} postbacks settled after ${timeoutMs} ms`)), timeoutMs);
        waiter = { target, resolve: () => (clearTimeout(timer), resolve()) };
      });
    },
  };
}

/** A fresh redis-server for one run, so its INFO counters count that run alone. */
async function withServer<T>(fn: (server: TestRedis, admin: Redis) => Promise<T>): Promise<T> {
  const server = await startRedis();
  const admin = new Redis(server.url);
  try {
    return await fn(server, admin);
  } finally {
    admin.disconnect();
    await server.close();
  }
}

/** Reads INFO numbers on the bench's own connection. */
async function info(admin: Redis, section: string, ...names: string[]): Promise<number[]> {
  const text = await admin.info(section);
  return names.map((name) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? NaN));
}

async function counters(admin: Redis) {
  const [input, output] = await info(admin, "stats", "total_net_input_bytes", "total_net_output_bytes");
  const [user, sys] = await info(admin, "cpu", "used_cpu_user", "used_cpu_sys");
  const [memory] = await info(admin, "memory", "used_memory");
  return { bytes: input! + output!, cpuS: user! + sys!, memory: memory! };
}

interface Flow {
  enqueuedPerS: number;
  endToEndPerS: number;
  bytesPerPostback: number;
  redisCpuUsPerPostback: number;
  /** used_memory left per postback once all are settled (what keeping completed jobs costs). */
  memoryLeftPerPostback: number;
}

/** Consumer running, BATCHES ingest requests enqueued, until every postback is settled. */
async function flow(variant: number): Promise<Flow> {
  return withServer(async (server, admin) => {
    const producer = await VARIANTS[variant]!.openProducer(server.url);
    const settled = counter();
    const consumer = await startConsumer(variant, server.url, settled);
    try {
      // Warm up: scripts loaded, the worker has seen the endpoint once.
      await produce(producer, 10, 1);
      await settled.reach(10 * PER_BATCH);
      const total = BATCHES * PER_BATCH;
      const target = settled.count + total;
      const before = await counters(admin);
      const t0 = performance.now();
      await produce(producer, BATCHES, PRODUCERS);
      const tEnqueued = performance.now();
      await settled.reach(target);
      const tSettled = performance.now();
      const after = await counters(admin);
      return {
        enqueuedPerS: (total / (tEnqueued - t0)) * 1000,
        endToEndPerS: (total / (tSettled - t0)) * 1000,
        bytesPerPostback: (after.bytes - before.bytes) / total,
        redisCpuUsPerPostback: ((after.cpuS - before.cpuS) / total) * 1e6,
        memoryLeftPerPostback: (after.memory - before.memory) / total,
      };
    } finally {
      await consumer.stop();
      await producer.close();
    }
  });
}

interface Backlog {
  enqueueOnlyPerS: number;
  memoryPerPostback: number;
}

/** No consumer: BACKLOG postbacks enqueued, used_memory read with all of them queued. */
async function backlog(variant: number): Promise<Backlog> {
  return withServer(async (server, admin) => {
    const producer = await VARIANTS[variant]!.openProducer(server.url);
    try {
      await produce(producer, 1, 1); // scripts loaded before the baseline
      const [memory0] = await info(admin, "memory", "used_memory");
      const batches = Math.ceil(BACKLOG / PER_BATCH);
      const t0 = performance.now();
      await produce(producer, batches, PRODUCERS);
      const ms = performance.now() - t0;
      const [memory1] = await info(admin, "memory", "used_memory");
      return { enqueueOnlyPerS: ((batches * PER_BATCH) / ms) * 1000, memoryPerPostback: (memory1! - memory0!) / (batches * PER_BATCH) };
    } finally {
      await producer.close();
    }
  });
}

function bullmqVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../node_modules/bullmq/package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const started = performance.now();
  const redisVersion = await withServer(async (_, admin) => /^redis_version:(\S+)/m.exec(await admin.info("server"))?.[1] ?? "?");
  const cpu = cpus();
  console.log(`Machine: ${cpu[0]?.model ?? "?"}, ${cpu.length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ` +
    `Node ${process.version}; Redis ${redisVersion} (AOF, appendfsync always); bullmq ${bullmqVersion()}.`);
  console.log(`Workload: ${fmt(BATCHES)} ingest requests × ${PER_BATCH} seed data objects (${DATA_BYTES} bytes of JSON each) ` +
    `from ${PRODUCERS} concurrent producers, the consumer in its own thread; backlog ${fmt(BACKLOG)} postbacks.`);
  console.log();
  const rows: string[] = [];
  const backlogs = new Map<number, Backlog>();
  for (let v = 0; v < VARIANTS.length; v++) {
    const variant = VARIANTS[v]!;
    process.stderr.write(`${variant.name}: flow… `);
    const f = await flow(v);
    let b = backlogs.get(BACKLOG_OF[v] ?? v);
    if (!b) {
      process.stderr.write(`backlog… `);
      b = await backlog(v);
      backlogs.set(v, b);
    }
    process.stderr.write(`done\n`);
    rows.push(
      `| ${variant.name} | ${fmt(f.enqueuedPerS)} | ${fmt(f.endToEndPerS)} | ${fmt(f.bytesPerPostback)} (${fmt(f.bytesPerPostback / DATA_BYTES, 2)}×) | ` +
        `${fmt(f.redisCpuUsPerPostback, 1)} | ${fmt(b.memoryPerPostback)} | ${fmt(Math.max(0, f.memoryLeftPerPostback))} | ${fmt(b.enqueueOnlyPerS)} |`,
    );
  }
  console.log("| variant | enqueued/s | end to end/s | bytes to+from Redis per postback (× data) | Redis CPU µs per postback | used_memory per queued postback | used_memory left per settled postback | enqueued/s, no consumer |");
  console.log("|---|--:|--:|--:|--:|--:|--:|--:|");
  for (const row of rows) console.log(row);
  console.log();
  console.log(`Took ${((performance.now() - started) / 1000).toFixed(0)} s.`);
}

if (isMainThread) await main();
else await consumerThread();
