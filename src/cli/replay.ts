/**
 * `ferry replay`: sends failed postbacks again, one (--postback) or a destination's in a time
 * range (--destination --since [--until]); runs from cron too. Two ways to reach Ferry:
 *
 * - **direct** (no --url, no FERRY_URL): opens the configured backends (FERRY_DATA_DIR, or
 *   FERRY_REDIS_URL and FERRY_DATABASE_URL) and runs the replay use case itself, as the server
 *   would; it needs the server's settings and access to its storage.
 * - **through the API** (--url or FERRY_URL, and a token: --token, FERRY_TOKEN or
 *   FERRY_ADMIN_TOKEN): @ferry/client against a running Ferry (src/cli/replay-api.ts); it needs
 *   only the URL and a token, the admin's or the destination's account's.
 *
 * Either way, a destination's replay shows its progress on stderr (src/cli/progress.ts) and
 * ends with one result line on stdout.
 */
import { parseArgs } from "node:util";
import { Ferry, FerryError } from "@ferry/client";
import { openBackends } from "../backends.js";
import { replayDestination, resendPostback } from "../app/resend.js";
import { Progress } from "./progress.js";
import { readConfig } from "./read-config.js";
import { replayThroughApi } from "./replay-api.js";

/** What to replay, once the arguments are read and checked. */
type Target = { postback: string } | { destination: string; from: number; to: number };

/** Where the replay's progress goes: made on the first report, when the total is known. */
class ProgressSink {
  progress: Progress | undefined;
  constructor(private readonly destinationId: string) {}
  readonly report = (done: number, total: number): void => {
    this.progress ??= new Progress({ label: `ferry replay ${this.destinationId}`, unit: "postbacks", total });
    this.progress.update(done, total);
  };
}

/** An ISO 8601 time, or a duration back from now such as 30m, 24h or 7d. */
function parseWhen(value: string, now: number): number | undefined {
  const ago = /^(\d+)([smhd])$/.exec(value);
  if (ago) return now - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as "s" | "m" | "h" | "d"];
  const ms = /^\d{4}-\d\d-\d\d/.test(value) ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function fail(message: string, code = 2): number {
  process.stderr.write(`ferry replay: ${message}\n`);
  return code;
}

function summary(destinationId: string, result: { replayed: number; skipped: number }, from: number, to: number): string {
  return (
    `ferry replay: ${destinationId}: ${result.replayed} postback${result.replayed === 1 ? "" : "s"} sent again, ` +
    `${result.skipped} skipped (queued or held), created ${new Date(from).toISOString()} to ${new Date(to).toISOString()}\n`
  );
}

export async function replay(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        destination: { type: "string" },
        postback: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
      },
    }));
  } catch (err) {
    return fail((err as Error).message);
  }
  const now = Date.now();
  if ((values.destination === undefined) === (values.postback === undefined)) {
    return fail("give --destination ID with --since TIME, or --postback ID");
  }
  let target: Target;
  if (values.destination !== undefined) {
    const since = values.since === undefined ? undefined : parseWhen(values.since, now);
    const until = values.until === undefined ? now + 1 : parseWhen(values.until, now);
    if (since === undefined || until === undefined || until <= since) {
      return fail("--since (and --until, if given) must be ISO 8601 times or durations like 24h, with until after since");
    }
    target = { destination: values.destination, from: since, to: until };
  } else {
    target = { postback: values.postback! };
  }
  const url = values.url ?? env["FERRY_URL"];
  if (url === undefined) return direct(target, now);
  // From the environment rather than the command line, a token stays out of `ps`.
  const token = values.token ?? env["FERRY_TOKEN"] ?? env["FERRY_ADMIN_TOKEN"];
  if (!/^https?:\/\/[^/]/i.test(url)) return fail(`--url (FERRY_URL) must be Ferry's http(s) base URL, got "${url.slice(0, 100)}"`);
  if (!token) return fail("through the API (--url or FERRY_URL) it needs a token: FERRY_TOKEN (an account's) or FERRY_ADMIN_TOKEN, or --token");
  return throughApi(new Ferry({ url, token }), target);
}

/** The direct mode: the configured backends, the use case run here. */
async function direct(target: Target, now: number): Promise<number> {
  const config = readConfig();
  if (!config) return 2;
  let backends;
  try {
    backends = await openBackends(config);
  } catch (err) {
    process.stderr.write(`ferry: ${(err as Error).message}\n`);
    return 1;
  }
  let sink: ProgressSink | undefined;
  try {
    if ("postback" in target) {
      const outcome = await resendPostback(backends, target.postback, undefined, now);
      const ok = outcome === "queued" || outcome === "rescheduled";
      (ok ? process.stdout : process.stderr).write(`ferry replay: ${target.postback}: ${outcome}\n`);
      return ok ? 0 : 1;
    }
    sink = new ProgressSink(target.destination);
    const result = await replayDestination(backends, target.destination, target, { now, onProgress: sink.report });
    sink.progress?.finish();
    if (result === "not_found") return fail(`no destination ${target.destination}`, 1);
    process.stdout.write(summary(target.destination, result, target.from, target.to));
    return 0;
  } catch (err) {
    sink?.progress?.finish("stopped");
    return fail((err as Error).message, 1);
  } finally {
    await backends.close();
  }
}

/** Through the HTTP API with @ferry/client: the same outcomes, Ferry's error codes as they come. */
async function throughApi(ferry: Ferry, target: Target): Promise<number> {
  if ("postback" in target) {
    try {
      await ferry.postbacks.retry(target.postback);
      process.stdout.write(`ferry replay: ${target.postback}: sent again\n`);
      return 0;
    } catch (err) {
      return fail(`${target.postback}: ${describe(err)}`, 1);
    }
  }
  const sink = new ProgressSink(target.destination);
  try {
    const result = await replayThroughApi(ferry, target.destination, target, sink.report);
    sink.progress?.finish();
    process.stdout.write(summary(target.destination, result, target.from, target.to));
    return 0;
  } catch (err) {
    sink.progress?.finish("stopped");
    if (err instanceof FerryError && err.code === "destination_not_found") return fail(`no destination ${target.destination}`, 1);
    return fail(describe(err), 1);
  }
}

/** Ferry's code and detail (a FerryError), or the message: never the request, so never the token. */
function describe(err: unknown): string {
  return err instanceof FerryError ? `${err.code}: ${err.detail}` : (err as Error).message;
}
