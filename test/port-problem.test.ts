/**
 * How the API answers a port's failure: the queue's as queue_unavailable, the store's as
 * store_unavailable, a duplicate id as Ferry's own bug (500, cause kept for the log); any other error is not a port's
 * outage, so it is left to the generic 500.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DuplicateIdError, QueueUnavailableError, StoreUnavailableError } from "../src/core/port-errors.js";
import { portProblem } from "../src/api/common.js";

test("typed port errors map to the code of their backend", () => {
  const queue = portProblem(new QueueUnavailableError("redis down"));
  assert.equal(queue?.code, "queue_unavailable");
  assert.equal(queue?.headers?.["retry-after"], "1");
  const store = portProblem(new StoreUnavailableError("postgres down"));
  assert.equal(store?.code, "store_unavailable");
  assert.equal(store?.headers?.["retry-after"], "5");
  const duplicate = new DuplicateIdError("queue", "pb_1");
  const bug = portProblem(duplicate);
  assert.equal(bug?.code, "internal_error");
  assert.equal(bug?.status, 500);
  assert.equal(bug?.cause, duplicate, "the cause goes to the log");
  assert.equal(portProblem(new Error("a bug")), undefined, "anything else is not a port's failure");
});
