/**
 * The CLI's progress display, with a clock the test turns: the rate and time left, the line
 * redrawn on a terminal, and the plain lines written anywhere else.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress, formatDuration, progressText, ratePerSecond, secondsLeft, terminalLine } from "../src/cli/progress.js";

/** A stream that keeps what is written; isTTY as the test says. */
function stream(isTTY: boolean, columns = 120) {
  const chunks: string[] = [];
  return { chunks, isTTY, columns, write: (chunk: string) => chunks.push(chunk), text: () => chunks.join("") };
}

function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("rate is the average per second since the start; time left is what remains at that rate", () => {
  assert.equal(ratePerSecond(500, 2000), 250);
  assert.equal(ratePerSecond(0, 0), undefined);
  assert.equal(secondsLeft(500, 2000, 2000), 6);
  assert.equal(secondsLeft(0, 2000, 2000), undefined, "nothing done yet: no estimate");
  assert.equal(secondsLeft(2100, 2000, 2000), 0, "done past the total (it grew): nothing left");
});

test("durations read as seconds, minutes or hours", () => {
  assert.equal(formatDuration(0.42), "0.4 s");
  assert.equal(formatDuration(12.4), "12 s");
  assert.equal(formatDuration(185), "3 min 05 s");
  assert.equal(formatDuration(7440), "2 h 04 min");
});

test("the text says done / total, the percentage, the rate and the time left", () => {
  assert.equal(progressText(1200, 5000, 4000, "postbacks"), "1,200/5,000 postbacks (24%), 300/s, 13 s left");
  assert.equal(progressText(3, 10, 2000, "postbacks"), "3/10 postbacks (30%), 1.5/s, 4.7 s left");
  assert.equal(progressText(0, 10, 0, "postbacks"), "0/10 postbacks (0%), –/s, time left unknown");
  assert.equal(progressText(0, 0, 10, "postbacks"), "0/0 postbacks (100%), 0.0/s, time left unknown");
});

test("the terminal line has a bar and fits the terminal's width", () => {
  assert.equal(
    terminalLine("ferry replay dst_1", 5, 10, 1000, "postbacks", 200),
    "ferry replay dst_1 [██████████··········] 5/10 postbacks (50%), 5.0/s, 1.0 s left",
  );
  const narrow = terminalLine("ferry replay dst_1", 5, 10, 1000, "postbacks", 40);
  assert.equal(narrow.length, 39);
  assert.ok(narrow.endsWith("…"));
  assert.equal(terminalLine("x".repeat(100), 5, 10, 1000, "postbacks", 0).length, 79, "an unknown width (0) is taken as 80");
});

test("on a terminal: one line redrawn in place, at most every redrawMs, ended by finish", () => {
  const out = stream(true);
  const c = clock();
  const p = new Progress({ label: "job", unit: "items", total: 100, out, now: c.now, redrawMs: 100 });
  assert.equal(out.chunks.length, 1, "drawn at once");
  c.advance(50);
  p.update(10);
  assert.equal(out.chunks.length, 1, "too soon to redraw");
  c.advance(950);
  p.update(50);
  assert.equal(out.chunks.length, 2);
  assert.equal(out.chunks[1], "\r\x1b[2Kjob [██████████··········] 50/100 items (50%), 50/s, 1.0 s left");
  c.advance(1000);
  p.update(100);
  p.finish("2 skipped");
  assert.equal(out.chunks.at(-2), "\r\x1b[2Kjob [████████████████████] 100/100 items (100%), 50/s, 0.0 s left");
  assert.equal(out.chunks.at(-1), "; 2 skipped\n");
  assert.ok(!out.text().slice(0, -1).includes("\n"), "one line until the end");
});

test("off a terminal: a plain line at each tenth and every stepMs, then a summary, no escape codes", () => {
  const out = stream(false);
  const c = clock();
  const p = new Progress({ label: "job", unit: "items", total: 20, out, now: c.now, stepMs: 5000 });
  for (let done = 1; done <= 20; done++) {
    c.advance(100);
    p.update(done);
  }
  p.finish();
  const lines = out.text().split("\n").filter(Boolean);
  assert.equal(lines[0], "job: 20 items to go");
  assert.equal(lines.length, 1 + 10 + 1, "the start, each tenth, the summary");
  assert.equal(lines[1], "job: 2/20 items (10%), 10/s, 1.8 s left");
  assert.equal(lines[10], "job: 20/20 items (100%), 10/s, 0.0 s left");
  assert.equal(lines[11], "job: done, 20 items in 2.0 s, 10/s");
  assert.doesNotMatch(out.text(), /[\r\x1b]/);

  const slow = stream(false);
  const s = clock();
  const q = new Progress({ label: "slow", unit: "items", total: 1000, out: slow, now: s.now, stepMs: 5000 });
  s.advance(4000);
  q.update(1);
  s.advance(1000);
  q.update(2);
  s.advance(1000);
  q.update(3);
  assert.deepEqual(slow.text().split("\n").filter(Boolean), [
    "slow: 1,000 items to go",
    "slow: 2/1,000 items (0%), 0.4/s, 41 min 35 s left",
  ]);
});
