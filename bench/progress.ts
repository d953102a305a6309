/**
 * Progress on stderr: a bar redrawn in place when stderr is a terminal (the CLI's line: done /
 * total, rate, time left), otherwise one line as each phase starts and one as it ends (so CI
 * logs and `2> file` stay readable; the report has the rates).
 */
import { terminalLine } from "../src/cli/progress.js";

export class Progress {
  private label = "";
  private total = 0;
  private done = 0;
  private unit = "";
  private started = 0;
  private drawn = 0;
  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly tty = Boolean(process.stderr.isTTY)) {}

  phase(label: string, total: number, unit = "postbacks"): void {
    this.label = label;
    this.total = total;
    this.unit = unit;
    this.done = 0;
    this.started = performance.now();
    if (this.tty) this.draw(true);
    else this.out.write(`bench: ${label}: ${total.toLocaleString("en-US")} ${unit}...\n`);
  }

  update(done: number): void {
    this.done = Math.min(done, this.total);
    if (this.tty) this.draw(false);
  }

  end(note = ""): void {
    const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
    if (this.tty) {
      this.done = this.total;
      this.draw(true);
      this.out.write(note ? `  ${note}\n` : "\n");
    } else {
      this.out.write(`bench: ${this.label}: done in ${seconds} s${note ? `, ${note}` : ""}\n`);
    }
  }

  /** A line of its own (a note between phases). */
  note(line: string): void {
    this.out.write(`bench: ${line}\n`);
  }

  private draw(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.drawn < 100) return;
    this.drawn = now;
    const line = terminalLine(this.label.padEnd(34), this.done, this.total, now - this.started, this.unit, this.out.columns);
    this.out.write(`\r\x1b[2K${line}`);
  }
}
