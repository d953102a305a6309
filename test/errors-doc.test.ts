/**
 * docs/errors.md and the registries in src/core/errors.ts stay in step: every code is
 * documented with its status, and every documented code exists.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decide } from "../src/core/retry.js";
import { readFileSync } from "node:fs";
import { API_ERRORS, ATTEMPT_ERRORS, problemBody, type ApiErrorCode, type AttemptErrorCode } from "../src/core/errors.js";
import { repoPath } from "./support/paths.js";

const doc = readFileSync(repoPath("docs", "errors.md"), "utf8");

/** The text of the `## <title>` section, up to the next `## ` heading. */
function section(title: string): string {
  const lines = doc.split("\n");
  const start = lines.findIndex((line) => line.trim() === `## ${title}`);
  assert.ok(start >= 0, `docs/errors.md has no "## ${title}" section`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

interface Row {
  code: string;
  cells: string[];
}

/** Table rows whose first cell is a code in backticks: | `code` | ... | */
function rows(text: string): Row[] {
  const out: Row[] = [];
  for (const line of text.split("\n")) {
    const m = /^\|\s*`([a-z][a-z0-9_]*)`\s*\|(.*)\|\s*$/.exec(line);
    if (m) out.push({ code: m[1]!, cells: m[2]!.split("|").map((c) => c.trim()) });
  }
  return out;
}

const apiRows = rows(section("API errors"));
const attemptRows = rows(section("Attempt errors"));

function assertNoDuplicates(list: Row[], where: string): void {
  const seen = new Set<string>();
  for (const { code } of list) {
    assert.ok(!seen.has(code), `\`${code}\` has two rows in ${where}`);
    seen.add(code);
  }
}

test("every API error code is documented with its HTTP status", () => {
  for (const [code, { status }] of Object.entries(API_ERRORS)) {
    const row = apiRows.find((r) => r.code === code);
    assert.ok(row, `API error \`${code}\` (src/core/errors.ts) has no row in the "API errors" table of docs/errors.md`);
    assert.equal(row.cells[0], String(status), `\`${code}\` is documented with status ${row.cells[0]}, but src/core/errors.ts gives ${status}`);
  }
});

test("every API error code documented exists in API_ERRORS", () => {
  for (const { code } of apiRows) {
    assert.ok(Object.hasOwn(API_ERRORS, code), `docs/errors.md documents API error \`${code}\`, which src/core/errors.ts does not define`);
  }
  assertNoDuplicates(apiRows, 'the "API errors" table');
});

test("every API error row says what it means and what to fix", () => {
  for (const { code, cells } of apiRows) {
    assert.equal(cells.length, 3, `\`${code}\`: expected | code | status | meaning | fix |`);
    assert.ok(cells[1]!.length >= 20, `\`${code}\`: the meaning is missing or too short`);
    assert.ok(cells[2]!.length >= 20, `\`${code}\`: what to fix is missing or too short`);
  }
});

test("every attempt error code is documented", () => {
  for (const code of Object.keys(ATTEMPT_ERRORS)) {
    const row = attemptRows.find((r) => r.code === code);
    assert.ok(row, `attempt error \`${code}\` (src/core/errors.ts) has no row in the "Attempt errors" table of docs/errors.md`);
    assert.ok(row.cells[0]!.length >= 20, `\`${code}\`: the meaning is missing or too short`);
    assert.match(row.cells[1]!, /^(yes|no)\b/, `\`${code}\`: say whether it is retried`);
  }
});

test("every attempt error code documented exists in ATTEMPT_ERRORS", () => {
  for (const { code } of attemptRows) {
    assert.ok(Object.hasOwn(ATTEMPT_ERRORS, code), `docs/errors.md documents attempt error \`${code}\`, which src/core/errors.ts does not define`);
  }
  assertNoDuplicates(attemptRows, 'the "Attempt errors" table');
});

test("the attempt errors table says which codes are retried as the retry policy does", () => {
  for (const { code, cells } of attemptRows) {
    // Ask the retry policy itself, so the table cannot drift from it.
    const decision = decide({ kind: "error", code: code as AttemptErrorCode, message: "" }, 1, { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 }, 0);
    const retried = decision.kind === "retry";
    assert.equal(cells[1]!.startsWith("yes"), retried, `\`${code}\` is ${retried ? "" : "not "}retried`);
  }
});

test("the example error body has exactly the members problemBody() sends", () => {
  const block = /```json\n([\s\S]*?)\n```/.exec(section("The error body"));
  assert.ok(block, 'the "The error body" section has a ```json example');
  const example = JSON.parse(block[1]!) as Record<string, unknown>;
  const code = example["code"] as ApiErrorCode;
  assert.ok(Object.hasOwn(API_ERRORS, code), `the example's code ${String(code)} exists`);
  const real = problemBody(code, String(example["detail"]), example["field"] as string | undefined);
  assert.deepEqual(example, real);
  // every member of the body is described in the members table
  const members = new Set(rows(section("The error body")).map((r) => r.code));
  for (const key of Object.keys(real)) assert.ok(members.has(key), `member \`${key}\` is not described`);
});
