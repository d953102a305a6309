/**
 * Ferry for a scenario whose queue is filled before any worker runs (issue 14's rate-limit and
 * fairness scenarios, as the throughput scenario's backlog): `ferry api` alone takes the
 * accounts, destinations and the backlog; then the workers start. Embedded: the API stops and
 * one `ferry start` takes over (SQLite is one process's), on a new port. Redis + Postgres: the
 * API keeps running and `workers` × `ferry worker` start beside it.
 */
import type { FerryProcess } from "./ferry.js";
import type { BackendName } from "./options.js";
import { backendSettings, start, stop, type Context } from "./scenarios.js";

export class QueuedFirst {
  /** Every Ferry process now running: the API alone, then the workers (and the API on redis-postgres). */
  procs: FerryProcess[];
  private constructor(
    private readonly ctx: Context,
    readonly backend: BackendName,
    private readonly settings: Record<string, string>,
    /** The Postgres database (redis-postgres), for the CPU meter. */
    readonly database: string | undefined,
    api: FerryProcess,
  ) {
    this.procs = [api];
  }

  static async open(ctx: Context, backend: BackendName, settings: Record<string, string> = {}): Promise<QueuedFirst> {
    const s = await backendSettings(ctx, backend);
    const all = { ...s.settings, ...settings };
    return new QueuedFirst(ctx, backend, all, s.database, await start(ctx, "api", all));
  }

  /** Where the API answers: `ferry api`, or `ferry start` once it took over. */
  get url(): string {
    return this.procs.find((p) => p.url)!.url!;
  }

  /** Starts the workers (embedded: `ferry start` in place of the API, whatever `workers` says). */
  async startWorkers(workers: number): Promise<void> {
    if (this.backend === "embedded") {
      await stop(this.ctx, this.procs[0]!);
      this.procs = [await start(this.ctx, "start", this.settings)];
      return;
    }
    for (let i = 0; i < workers; i++) this.procs.push(await start(this.ctx, "worker", this.settings));
  }

  /** The processes, as the report names them: "ferry api", "2 × ferry worker". */
  processes(): string[] {
    const count = new Map<string, number>();
    for (const p of this.procs) count.set(`ferry ${p.role}`, (count.get(`ferry ${p.role}`) ?? 0) + 1);
    return [...count].map(([name, n]) => (n > 1 ? `${n} × ${name}` : name));
  }

  async stop(): Promise<void> {
    for (const p of this.procs) await stop(this.ctx, p);
    this.procs = [];
  }
}
