/**
 * The `ferry` bin works after any build: `npm install` builds dist/, `npm start` and `npm test`
 * rebuild it, and npx runs dist/src/cli/main.js itself, so every build must leave that file
 * executable (it once answered "Permission denied" after the first rebuild).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoPath } from "./support/paths.js";

/** Runs the bin as a program, as npx does: it fails with EACCES without the execute bit. */
function runBin(bin: string): string {
  assert.ok(statSync(bin).mode & 0o100, `${bin} has its execute bit`);
  return execFileSync(bin, ["help"], { encoding: "utf8" });
}

test("a build into a fresh folder leaves the ferry bin executable", { timeout: 180_000 }, () => {
  // Inside the checkout, so the built code finds node_modules as dist/ does.
  const out = mkdtempSync(repoPath("dist", "build-test-"));
  try {
    execFileSync(process.execPath, [repoPath("scripts", "build.mjs"), "--outDir", out], { stdio: "pipe" });
    assert.match(runBin(join(out, "src", "cli", "main.js")), /^ferry \S+ — real-time delivery/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the rebuild before the tests (the same step npm start runs) left this checkout's bin executable", () => {
  // npm install built dist/ once (prepare); `npm test` rebuilt it (pretest), deleting it first.
  const bin = repoPath("dist", "src", "cli", "main.js");
  assert.ok(existsSync(bin));
  assert.match(runBin(bin), /^ferry \S+ — real-time delivery/);
});
