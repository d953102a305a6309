/**
 * The `ferry` bin works after any build: `npm start` and `npm test` rebuild dist/, and npx runs
 * dist/src/cli/main.js itself, so the build must leave it executable every time (it once
 * answered "Permission denied" after the first rebuild).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { repoPath } from "./support/paths.js";

test("the build leaves the ferry bin executable, build after build", { timeout: 180_000 }, () => {
  // Inside the checkout, so the built code finds node_modules as dist/ does.
  const out = mkdtempSync(repoPath("dist", "build-test-"));
  try {
    for (const round of [1, 2]) {
      execFileSync(process.execPath, [repoPath("scripts", "build.mjs"), "--outDir", out], { stdio: "pipe" });
      const bin = join(out, "src", "cli", "main.js");
      assert.ok(statSync(bin).mode & 0o100, `round ${round}: the bin has its execute bit`);
      // Run as a program, as npx does: fails with EACCES without the execute bit.
      const help = execFileSync(bin, ["help"], { encoding: "utf8" });
      assert.match(help, /^ferry \d+\.\d+\.\d+/, `round ${round}: ferry help answers`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("npm start's build left this checkout's bin executable", () => {
  // pretest ran `npm run build`, the same step `npm start` runs first.
  const bin = repoPath("dist", "src", "cli", "main.js");
  assert.ok(existsSync(bin));
  assert.ok(statSync(bin).mode & 0o111, "dist/src/cli/main.js is executable");
  assert.match(execFileSync(bin, ["help"], { encoding: "utf8" }), /^ferry /);
});
