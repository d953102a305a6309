/**
 * Profiles of the running process, written to `<data_dir>/profiles/`: a CPU profile over N
 * seconds (node:inspector, the format Chrome DevTools and speedscope read), or a heap snapshot.
 * One at a time per process: two profiles at once would each measure the other, and a heap
 * snapshot doubles the memory it describes while it is written.
 *
 * What is profiled is the thread that calls: in `ferry start` that is the main thread (the API);
 * the delivery worker thread has an inspector of its own, which this does not reach.
 */
import { Session } from "node:inspector/promises";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";

/** A profile or snapshot is being taken already. */
export class ProfilerBusyError extends Error {
  constructor(readonly running: string) {
    super(`a ${running} is being taken already`);
    this.name = "ProfilerBusyError";
  }
}

/** Longest CPU profile: two minutes shows any steady load, and its file stays small enough to open. */
export const MAX_PROFILE_SECONDS = 120;

/** Process-wide, not per Profiler: the HTTP routes and SIGUSR2 share one inspector. */
let running: string | undefined;
/** Ends the CPU profile being taken now rather than after its seconds. */
let endEarly: (() => void) | undefined;

/**
 * Cuts a running CPU profile short; it is written with what it has. For shutdown: a stopping
 * API must not wait up to two minutes for a profile request to finish.
 */
export function endProfileEarly(): void {
  endEarly?.();
}

export class Profiler {
  constructor(private readonly dataDir: string) {}

  /** Takes a CPU profile for `seconds`; resolves to the file's path once written. */
  async cpu(seconds: number): Promise<string> {
    const release = claim("CPU profile");
    const session = new Session();
    try {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        endEarly = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      const { profile } = await session.post("Profiler.stop");
      const path = await this.file("cpu", "cpuprofile");
      await writeFile(path, JSON.stringify(profile));
      return path;
    } finally {
      endEarly = undefined;
      session.disconnect();
      release();
    }
  }

  /** Writes a heap snapshot (the process pauses while it is taken); resolves to its path. */
  async heapSnapshot(): Promise<string> {
    const release = claim("heap snapshot");
    try {
      const path = await this.file("heap", "heapsnapshot");
      return writeHeapSnapshot(path);
    } finally {
      release();
    }
  }

  private async file(kind: string, extension: string): Promise<string> {
    const dir = join(this.dataDir, "profiles");
    await mkdir(dir, { recursive: true });
    // 2026-11-29T19-02-03.456Z: sortable, and no colon (which some file systems refuse).
    const stamp = new Date().toISOString().replace(/:/g, "-");
    return join(dir, `${kind}-${stamp}.${extension}`);
  }
}

function claim(what: string): () => void {
  if (running !== undefined) throw new ProfilerBusyError(running);
  running = what;
  return () => {
    running = undefined;
  };
}
