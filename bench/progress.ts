/**
 * Progress on stderr: a bar redrawn in place when stderr is a terminal, otherwise one line as
 * each phase starts and one as it ends (so CI logs and `2> file` stay readable).
 */
const WIDTH = 28;

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
    const fraction = this.total ? this.done / this.total : 1;
    const filled = Math.round(fraction * WIDTH);
    const seconds = (now - this.started) / 1000;
    const line =
      `${this.label.padEnd(34)} [${"█".repeat(filled)}${"·".repeat(WIDTH - filled)}] ` +
      `${this.done.toLocaleString("en-US")}/${this.total.toLocaleString("en-US")} ${this.unit}  ${seconds.toFixed(1)} s`;
    this.out.write(`\r\x1b[2K${line}`);
  }
}
