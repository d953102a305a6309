/**
 * The parent's side of the helper processes: fork one with an IPC channel, wait for a message
 * of a phase, follow its progress; an unexpected exit fails every wait at once.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Helper<In, Out extends { type: string }> {
  child: ChildProcess;
  send(message: In): void;
  /** The next message of `type` (and `phase`, when given). */
  next<T extends Out["type"]>(type: T, phase?: string): Promise<Extract<Out, { type: T }>>;
  /** Calls `fn` with each message of `type`. */
  on<T extends Out["type"]>(type: T, fn: (message: Extract<Out, { type: T }>) => void): () => void;
  stop(): Promise<void>;
}

export function forkHelper<In, Out extends { type: string; phase?: string }>(module: string, name: string): Helper<In, Out> {
  const path = fileURLToPath(new URL(module, import.meta.url));
  // execArgv: [] so that flags given to the bench (say --cpu-prof) do not reach its helpers.
  const child = fork(path, [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const listeners = new Set<(m: Out) => void>();
  let gone: Error | undefined;
  const failures = new Set<(err: Error) => void>();
  child.on("message", (m: Out) => {
    for (const l of [...listeners]) l(m);
  });
  child.once("exit", (code, signal) => {
    gone = new Error(`the bench's ${name} process exited (${signal ?? code})`);
    for (const f of [...failures]) f(gone);
  });
  let stopping = false;
  return {
    child,
    send: (message) => child.send(message as object),
    on(type, fn) {
      const l = (m: Out) => {
        if (m.type === type) fn(m as never);
      };
      listeners.add(l);
      return () => listeners.delete(l);
    },
    next(type, phase) {
      const p = new Promise<never>((resolve, reject) => {
        if (gone && !stopping) return reject(gone);
        const l = (m: Out) => {
          if (m.type === type && (phase === undefined || m.phase === phase)) {
            listeners.delete(l);
            failures.delete(reject);
            resolve(m as never);
          }
        };
        listeners.add(l);
        failures.add(reject);
      });
      p.catch(() => {}); // a wait nobody awaits any more must not crash the bench when the helper exits
      return p;
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.disconnect();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
