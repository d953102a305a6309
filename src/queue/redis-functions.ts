/**
 * The Redis queue's Lua, as one Redis function library assembled from the files in
 * src/queue/redis/ (one per function, each headed by its KEYS/ARGV and reply; helpers.lua
 * holds the local functions they share). The build copies them beside the compiled module,
 * so they are read from `./redis/` next to this file, in src/ and in dist/ alike.
 *
 * One library rather than loose scripts: FUNCTION LOAD once per connection, then each call
 * names its function in a few bytes (FCALL) instead of a 40-byte script sha.
 */
import { readFile } from "node:fs/promises";

/**
 * Version the names: processes of two Ferry versions on one Redis each call their own code.
 * v2: holds, reschedule, attempts carried over by resends, odd leases while reserved.
 * v3: enqueue takes several batches in one call (all or none). Keys and their contents are
 * v2's, so a queue written by v2 is read as is, and v2 and v3 processes can share one.
 * v4: withdraw, and enqueue refuses a withdrawn call. Keys as v3's plus `P:w:<id>` marks; a v3
 * process still enqueues into a v4 queue, but without honouring withdrawals.
 * v5: ordered lines and lanes (issue 14). An account's entries are due in its own lane,
 * `P:q:<accountId>`, indexed by `P:lanes` and `P:turn`; P:q stays the lane of entries without
 * an account, so what a v4 queued there (whatever its account) is reserved as that one lane,
 * and a v4 `enqueue` still running during a rolling upgrade adds to it. Ordered entries wait in
 * `P:o:<key>`. v4 workers must be stopped before v5 ones start: a v4 reserve sees only P:q and
 * a v4 settle moves nothing along a line. Adds `stats` and `latest`.
 * v6: `settle_reserve`, settle then reserve in one call (issue 16: one FCALL per worker batch
 * instead of two). Keys and their contents are v5's, so a queue written by v5 is read as is,
 * and v5 and v6 processes can share one during a rolling upgrade.
 */
export const LIBRARY_NAME = "ferry_v6";

/** Every function of the library, by its file name (without .lua); each is `<LIBRARY_NAME>_<name>`. */
export const FUNCTIONS = ["enqueue", "reserve", "settle", "find", "unhold", "reschedule", "withdraw", "stats", "latest", "settle_reserve"] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

const DIR = new URL("./redis/", import.meta.url);

/** The name FCALL takes. */
export function functionName(name: FunctionName): string {
  return `${LIBRARY_NAME}_${name}`;
}

/** The library's source, for FUNCTION LOAD REPLACE. Read once per process. */
export function librarySource(): Promise<string> {
  library ??= assemble().catch((err: unknown) => {
    library = undefined; // a later connect may find the files (a deploy still copying them)
    throw err;
  });
  return library;
}
let library: Promise<string> | undefined;

async function assemble(): Promise<string> {
  const read = (name: string) => readFile(new URL(`${name}.lua`, DIR), "utf8");
  const [helpers, ...bodies] = await Promise.all([read("helpers"), ...FUNCTIONS.map(read)]);
  return [
    `#!lua name=${LIBRARY_NAME}`,
    helpers,
    // Each file is a local function `fn_<name>(ARGV)` first, so one function can call another
    // (settle_reserve is settle, then reserve); the functions are defined in FUNCTIONS' order.
    // FCALL hands keys and arguments to the callback; every key is built from ARGV[1] (the
    // prefix), so the functions take ARGV under the name the scripts always used.
    ...FUNCTIONS.map((name, i) => `local function fn_${name}(ARGV)\n${bodies[i]}\nend`),
    ...FUNCTIONS.map((name) => `redis.register_function("${functionName(name)}", function(_, ARGV) return fn_${name}(ARGV) end)`),
  ].join("\n");
}
