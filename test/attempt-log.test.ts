import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { AttemptLog, fields } from "../src/delivery/attempt-log.js";
import { createLogger } from "../src/log.js";
import type { AttemptRecord } from "../src/store/port.js";

const base: AttemptRecord = {
  postbackId: "pb_01JD3Q8Y2M5V7W9X0Z1A2B3C4D",
  endpoint: { id: "ep_x", method: "GET", url: "http://127.0.0.1:1/x", defaultValue: "", maxAttempts: 10 },
  data: "{}",
  createdAt: 1,
  attempt: 3,
  startedAt: 2,
  durationMs: 12.34,
  url: 'http://127.0.0.1:1/data?title="Gopher"&é=\u2028\u0001',
  statusCode: 200,
  error: null,
  errorMessage: null,
  responseBody: 'ok "quoted" \\ ünïcode \n line',
  state: "delivered",
  nextAttemptAt: null,
  reason: null,
};

/** Lines a logger made the fast way and the same attempts through pino's serializer, parsed. */
function both(records: { record: AttemptRecord; method: string; destinationId: string | undefined }[]) {
  const dir = mkdtempSync(join(tmpdir(), "ferry-attempt-log-"));
  const fast = join(dir, "fast.log");
  const slow = join(dir, "slow.log");
  const options = { level: "info", base: { pid: 42 } };
  const fastLogger = pino(options, pino.destination({ dest: fast, sync: true }));
  const slowLogger = pino(options, pino.destination({ dest: slow, sync: true }));
  const log = new AttemptLog(fastLogger);
  for (const { record, method, destinationId } of records) {
    log.write(record, { method, destinationId });
    slowLogger.info(fields(record, { method, destinationId }), "attempt");
  }
  const read = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { fast: read(fast), slow: read(slow), fastText: readFileSync(fast, "utf8"), slowText: readFileSync(slow, "utf8") };
}

test("the attempt line is the line pino writes, key for key and byte for byte but the time", () => {
  const records = [
    { record: base, method: "GET", destinationId: undefined },
    { record: { ...base, statusCode: null, error: "timeout" as const, responseBody: null, state: "failed" as const, nextAttemptAt: Date.UTC(2026, 10, 30, 6, 0, 0, 5) }, method: "POST", destinationId: "dst_01JD3Q8Y2M5V7W9X0Z1A2B3C4D" },
    { record: { ...base, statusCode: 500, state: "dead" as const, durationMs: 0 }, method: "PUT", destinationId: "dst_x" },
  ];
  const { fast, slow, fastText, slowText } = both(records);
  assert.equal(fast.length, 3);
  for (let i = 0; i < fast.length; i++) {
    const { time: t1, ...f } = fast[i]!;
    const { time: t2, ...s } = slow[i]!;
    assert.equal(typeof t1, "number");
    assert.ok(Math.abs((t1 as number) - (t2 as number)) < 1000);
    assert.deepEqual(f, s);
    assert.deepEqual(Object.keys(fast[i]!), Object.keys(slow[i]!));
  }
  const untimed = (text: string) => text.replace(/"time":\d+/g, '"time":0');
  assert.equal(untimed(fastText), untimed(slowText));
});

test("the attempt line follows the level: nothing below info, nothing at warn", () => {
  const dir = mkdtempSync(join(tmpdir(), "ferry-attempt-log-"));
  const path = join(dir, "warn.log");
  const logger = pino({ level: "warn" }, pino.destination({ dest: path, sync: true }));
  new AttemptLog(logger).write(base, { method: "GET", destinationId: undefined });
  assert.equal(readFileSync(path, "utf8"), "");
});

test("Ferry's own logger takes the fast path (its shape is the one the line copies)", () => {
  const logger = createLogger("info", { sync: true });
  assert.notEqual((new AttemptLog(logger) as unknown as { stream: unknown }).stream, undefined);
});
