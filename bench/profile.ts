/**
 * Summarizes a V8 .cpuprofile (from BENCH_FERRY_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"):
 *
 *   node dist/bench/profile.js DIR/CPU.*.cpuprofile [--top 25]
 *
 * Prints the functions with the most self time, self time by module (a package, a Ferry
 * source file, Node's internals, GC), and self time attributed to the nearest Ferry function
 * on the stack (what part of Ferry the time is spent for).
 *
 *   node dist/bench/profile.js FILE.cpuprofile --busy 15
 *
 * lists instead the stretches of at least 15 ms in which the event loop never went idle, and
 * what ran in each: where a request that arrived then had to wait (latency tails).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A module's short name: node_modules/<pkg>, src/<file> of Ferry, node:<internal>, or (gc) etc. */
export function moduleOf(url: string, functionName: string): string {
  if (!url) return `(${functionName.replace(/[()]/g, "") || "native"})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ferry = /\/(src\/.+?)\.js$/.exec(url);
  if (ferry && !url.includes("node:")) return ferry[1]!;
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  return url.replace(/^file:\/\//, "");
}

export function summarizeProfile(profile: Profile, top = 25): string {
  const byId = new Map<number, Node>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<number, number>(); // node id → µs
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  const ferry = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === "(idle)") idle += us;
    const name = `${functionName || "(anonymous)"} ${moduleOf(url, functionName)}${url ? `:${lineNumber + 1}` : ""}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const m = moduleOf(url, functionName);
    mod.set(m, (mod.get(m) ?? 0) + us);
    // Walk up to the nearest frame in Ferry's own code; callbacks with none (a socket's data,
    // a timer) go by the module of the function that ran.
    if (functionName === "(idle)") continue;
    let at: number | undefined = id;
    const special = /^\((garbage collector|program|root)\)$/.test(functionName);
    let owner = special ? m : `(no Ferry frame) ${m}`;
    while (!special && at !== undefined) {
      const f = byId.get(at)!.callFrame;
      if (/\/src\/[^:]+\.js$/.test(f.url) && !f.url.includes("node_modules")) {
        owner = `${f.functionName || "(anonymous)"} ${moduleOf(f.url, f.functionName)}`;
        break;
      }
      at = parent.get(at);
    }
    ferry.set(owner, (ferry.get(owner) ?? 0) + us);
  }
  const busy = total - idle;
  const table = (title: string, map: Map<string, number>, n: number) => {
    const rows = [...map].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, n);
    return [
      `### ${title}`,
      "",
      "| % of busy time | ms | |",
      "|---:|---:|---|",
      ...rows.map(([k, us]) => `| ${((us / busy) * 100).toFixed(1)}% | ${(us / 1000).toFixed(0)} | \`${k}\` |`),
      "",
    ].join("\n");
  };
  return [
    `Profile: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((busy / total) * 100).toFixed(0)}%), idle ${(idle / 1e6).toFixed(1)} s`,
    "",
    table("Self time by function", fn, top),
    table("Self time by module", mod, top),
    table("Self time by nearest Ferry function on the stack", ferry, top),
  ].join("\n");
}

/** Stretches of at least `minMs` with no idle sample, longest first, with what ran in them. */
export function busyStretches(profile: Profile, minMs: number, top = 15): string {
  const byId = new Map<number, Node>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const label = (id: number) => {
    // The leaf, and the nearest Ferry function above it.
    const leaf = byId.get(id)!.callFrame;
    let at: number | undefined = id;
    let ferry = "";
    while (at !== undefined) {
      const f = byId.get(at)!.callFrame;
      if (/\/src\/[^:]+\.js$/.test(f.url) && !f.url.includes("node_modules")) {
        ferry = ` < ${f.functionName || "(anonymous)"} ${moduleOf(f.url, f.functionName)}`;
        break;
      }
      at = parent.get(at);
    }
    const name = `${leaf.functionName || "(anonymous)"} ${moduleOf(leaf.url, leaf.functionName)}`;
    return ferry === ` < ${name}` ? name : name + ferry;
  };
  type Stretch = { startUs: number; us: number; what: Map<string, number> };
  const stretches: Stretch[] = [];
  let t = profile.startTime;
  let current: Stretch | undefined;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    const idle = byId.get(id)!.callFrame.functionName === "(idle)";
    if (idle) {
      if (current && current.us >= minMs * 1000) stretches.push(current);
      current = undefined;
      return;
    }
    current ??= { startUs: t - profile.startTime, us: 0, what: new Map() };
    current.us += dt;
    const k = label(id);
    current.what.set(k, (current.what.get(k) ?? 0) + dt);
  });
  if (current && current.us >= minMs * 1000) stretches.push(current);
  const lines = [
    `Profile: ${((profile.endTime - profile.startTime) / 1e6).toFixed(2)} s. ${stretches.length} stretches of ≥ ${minMs} ms with the event loop never idle; the ${Math.min(top, stretches.length)} longest:`,
    "",
  ];
  for (const st of stretches.sort((a, b) => b.us - a.us).slice(0, top)) {
    const what = [...st.what].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, us]) => `${(us / 1000).toFixed(0)} ms ${k}`);
    lines.push(`- at ${(st.startUs / 1e6).toFixed(2)} s, ${(st.us / 1000).toFixed(0)} ms: ${what.join("; ")}`);
  }
  return lines.join("\n") + "\n";
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" }, busy: { type: "string" } } });
  if (positionals.length === 0) {
    process.stderr.write("usage: node dist/bench/profile.js FILE.cpuprofile... [--top N]\n");
    process.exit(2);
  }
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
    const text = values.busy ? busyStretches(profile, Number(values.busy), Number(values.top)) : summarizeProfile(profile, Number(values.top));
    process.stdout.write(`## ${file}\n\n${text}\n`);
  }
}
