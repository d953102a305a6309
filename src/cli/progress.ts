/**
 * Progress of a long CLI job (`ferry replay`), written to stderr so stdout keeps only the result.
 *
 * On a terminal: one line redrawn in place — done / total, rate per second, time left.
 * Anywhere else (a pipe, `2> file`, cron's mail, CI): a plain line at each tenth of the way and
 * at least every STEP_MS, then a summary; never an escape code, so a log stays readable.
 *
 * The rate is the average since the start, not a moving window: replay's steps are alike, and an
 * average gives a time left that does not jump about.
 */

/** What progress writes to: process.stderr, or anything shaped like it (tests). */
export interface ProgressOut {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** What runs, first on every line: "ferry replay dst_01...". */
  label: string;
  /** What is counted: "postbacks". */
  unit: string;
  total: number;
  out?: ProgressOut;
  /** Milliseconds; performance.now by default (tests give their own). */
  now?: () => number;
  /** On a terminal, the line is redrawn at most this often (ms). */
  redrawMs?: number;
  /** Off a terminal, a line at least this often (ms) while anything moves, besides each tenth. */
  stepMs?: number;
}

const REDRAW_MS = 100;
const STEP_MS = 5000;
const STEPS = 10;
const BAR = 20;

const count = (n: number): string => n.toLocaleString("en-US");

/** Items per second after `elapsedMs`; undefined before any time has passed. */
export function ratePerSecond(done: number, elapsedMs: number): number | undefined {
  return elapsedMs > 0 ? (done * 1000) / elapsedMs : undefined;
}

/** Seconds until `total` at the average rate so far; undefined while nothing is done yet. */
export function secondsLeft(done: number, total: number, elapsedMs: number): number | undefined {
  const rate = ratePerSecond(done, elapsedMs);
  if (rate === undefined || done === 0) return undefined;
  return Math.max(0, total - done) / rate;
}

/** 0.4 s, 12 s, 3 min 05 s, 2 h 04 min. */
export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** 310/s, 2.5/s; "–/s" before any time has passed. */
export function formatRate(rate: number | undefined): string {
  if (rate === undefined) return "–/s";
  return `${rate < 10 ? rate.toFixed(1) : count(Math.round(rate))}/s`;
}

/** "1,200/5,000 postbacks (24%), 310/s, 12 s left": the words both displays share. */
export function progressText(done: number, total: number, elapsedMs: number, unit: string): string {
  const percent = total > 0 ? Math.floor((done * 100) / total) : 100;
  const left = secondsLeft(done, total, elapsedMs);
  return (
    `${count(done)}/${count(total)} ${unit} (${percent}%), ${formatRate(ratePerSecond(done, elapsedMs))}` +
    `, ${left === undefined ? "time left unknown" : `${formatDuration(left)} left`}`
  );
}

/** The terminal line: label, a bar, then progressText; cut to the terminal's width. */
export function terminalLine(label: string, done: number, total: number, elapsedMs: number, unit: string, columns?: number): string {
  // A terminal whose size is unknown says 0 columns (or none): take the classic 80.
  const width = columns && columns > 0 ? columns : 80;
  const filled = total > 0 ? Math.min(BAR, Math.round((done / total) * BAR)) : BAR;
  const line = `${label} [${"█".repeat(filled)}${"·".repeat(BAR - filled)}] ${progressText(done, total, elapsedMs, unit)}`;
  // One character short of the width: a line that fills it wraps on some terminals, and then \r
  // redraws only the wrapped part.
  return line.length < width ? line : line.slice(0, Math.max(0, width - 2)) + "…";
}

export class Progress {
  private readonly out: ProgressOut;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly started: number;
  private done = 0;
  private total: number;
  private lastWrite: number;
  /** Off a terminal: the next tenth (1..10) that gets its own line. */
  private nextStep = 1;
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.out = options.out ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.tty = this.out.isTTY === true;
    this.total = options.total;
    this.started = this.now();
    this.lastWrite = this.started;
    if (this.tty) this.draw();
    else this.out.write(`${options.label}: ${count(this.total)} ${options.unit} to go\n`);
  }

  /** `done` so far; `total` when it has changed (it may grow while a job runs). */
  update(done: number, total = this.total): void {
    this.done = done;
    this.total = Math.max(total, done);
    const now = this.now();
    if (this.tty) {
      if (now - this.lastWrite >= (this.options.redrawMs ?? REDRAW_MS)) this.draw();
      return;
    }
    let stepReached = false;
    while (this.nextStep <= STEPS && this.total > 0 && done * STEPS >= this.nextStep * this.total) {
      this.nextStep++;
      stepReached = true;
    }
    if (stepReached || now - this.lastWrite >= (this.options.stepMs ?? STEP_MS)) this.plainLine(now);
  }

  /** The last word: redraws the line complete and ends it (terminal), or writes a summary. */
  finish(note = ""): void {
    if (this.finished) return;
    this.finished = true;
    const elapsed = this.now() - this.started;
    const suffix = note ? `; ${note}` : "";
    if (this.tty) {
      this.draw();
      this.out.write(`${suffix}\n`);
      return;
    }
    this.out.write(
      `${this.options.label}: done, ${count(this.done)} ${this.options.unit} in ${formatDuration(elapsed / 1000)}, ` +
        `${formatRate(ratePerSecond(this.done, elapsed))}${suffix}\n`,
    );
  }

  private draw(): void {
    this.lastWrite = this.now();
    const line = terminalLine(this.options.label, this.done, this.total, this.lastWrite - this.started, this.options.unit, this.out.columns);
    // \r and "erase line": the line is redrawn where it stands; nothing else on a terminal.
    this.out.write(`\r\x1b[2K${line}`);
  }

  private plainLine(now: number): void {
    this.lastWrite = now;
    this.out.write(`${this.options.label}: ${progressText(this.done, this.total, now - this.started, this.options.unit)}\n`);
  }
}
