#!/usr/bin/env node
/**
 * The `ferry` command: start | api | worker | migrate | replay | receiver | demo. Settings come from FERRY_* variables
 * (see docs/operations.md); a bad one stops start-up with a line that names it.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config.js";
import { BackendError, redact } from "../backend-error.js";
import { openBackends, sqlitePath } from "../backends.js";
import { replayDestination, resendPostback } from "../app/resend.js";
import { migratePostgres } from "../store/postgres-migrations.js";
import { runRole, type Role } from "../service.js";
import { startReceiver } from "../receiver.js";
import { demo } from "./demo-calls.js";
import { Progress } from "./progress.js";
import { VERSION } from "../version.js";

const USAGE = `ferry ${VERSION} — real-time delivery of postbacks and webhooks

Usage: ferry <command> [options]

Commands:
  start      API and delivery worker in one process (what npm start runs)
  api        the HTTP API only: ingest, health, postback lookups
  worker     the delivery worker only
  migrate    apply the Postgres schema (FERRY_DATABASE_URL); SQLite needs none
  replay     send failed postbacks again (runs from cron too)
             --destination ID --since TIME [--until TIME]   every failed or dead
                 postback of the destination created in the range
             --postback ID                                  one postback
             TIME: ISO 8601 (2026-11-23T00:00:00Z) or a duration back from now (24h, 30m, 7d)
  receiver   a tiny HTTP endpoint that prints every request it gets
             --port N (9000)  --host H (127.0.0.1)  --status CODE (200)
             --delay-ms N (0)  --quiet
  demo calls plays fun-with-webhooks' call generator against a running Ferry (FERRY_COMPAT=webhooks):
             every interval, a call.standby for half of N contact numbers to every enabled client
             --interval-ms N (1000)  --numbers N (10)  --rounds N (until Ctrl-C)
             --url URL (FERRY_URL)  --token T (FERRY_ADMIN_TOKEN)
  help       this text

Settings are FERRY_* environment variables or a JSON file named by FERRY_CONFIG;
docs/operations.md lists them all. Examples:
  FERRY_PORT=8080 FERRY_DATA_DIR=./data ferry start
  ferry receiver --port 9000
  ferry replay --destination dst_01JD... --since 24h
`;

async function main(argv: string[]): Promise<number> {
  const [command = "help", ...rest] = argv;
  switch (command) {
    case "start":
    case "api":
    case "worker":
      return serve(command);
    case "migrate":
      return migrate();
    case "replay":
      return replay(rest);
    case "receiver":
      return receiver(rest);
    case "demo":
      return demo(rest);
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return 0;
    case "version":
    case "--version":
      process.stdout.write(VERSION + "\n");
      return 0;
    default:
      process.stderr.write(`ferry: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

/** The config, or undefined once a configuration error has been printed. */
function readConfig(): Config | undefined {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: configuration error:\n${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

async function serve(role: Role): Promise<number> {
  const config = readConfig();
  if (!config) return 2;
  let running;
  try {
    running = await runRole(role, config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") {
      process.stderr.write(`ferry: port ${config.port} is in use; set FERRY_PORT to another port\n`);
      return 1;
    }
    // Already one line naming the setting to fix.
    if (err instanceof BackendError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`ferry: could not start: ${e.message}\n`);
    return 1;
  }
  if (running.url) process.stdout.write(`ferry ${role} listening on ${running.url}\n`);
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: string) => {
      if (++signals > 1) {
        process.stderr.write(`ferry: second ${signal}; exiting now (in-flight postbacks are redelivered after their lease)\n`);
        process.exit(130);
      }
      running.stop().then(resolve, (err: Error) => {
        process.stderr.write(`ferry: error while stopping: ${err.message}\n`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

async function migrate(): Promise<number> {
  const config = readConfig();
  if (!config) return 2;
  if (!config.database_url) {
    process.stdout.write(
      `ferry migrate: FERRY_DATABASE_URL is not set, so the store is the SQLite file ${sqlitePath(config)}, ` +
        "which migrates itself on start; nothing to do\n",
    );
    return 0;
  }
  const where = redact(config.database_url);
  try {
    const { applied } = await migratePostgres(config.database_url);
    process.stdout.write(
      applied.length === 0
        ? `ferry migrate: ${where} is already up to date\n`
        : `ferry migrate: applied ${applied.length} migration${applied.length === 1 ? "" : "s"} to ${where}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof BackendError) {
      process.stderr.write(`ferry: ${err.message}\n`);
    } else {
      // Nothing was applied: the migrations run in one transaction.
      process.stderr.write(`ferry migrate: could not migrate ${where}, nothing applied: ${(err as Error).message}\n`);
    }
    return 1;
  }
}

/** An ISO 8601 time, or a duration back from now such as 30m, 24h or 7d. */
function parseWhen(value: string, now: number): number | undefined {
  const ago = /^(\d+)([smhd])$/.exec(value);
  if (ago) return now - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as "s" | "m" | "h" | "d"];
  const ms = /^\d{4}-\d\d-\d\d/.test(value) ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

async function replay(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { destination: { type: "string" }, postback: { type: "string" }, since: { type: "string" }, until: { type: "string" } },
    }));
  } catch (err) {
    process.stderr.write(`ferry replay: ${(err as Error).message}\n`);
    return 2;
  }
  const now = Date.now();
  if ((values.destination === undefined) === (values.postback === undefined)) {
    process.stderr.write("ferry replay: give --destination ID with --since TIME, or --postback ID\n");
    return 2;
  }
  let from = 0;
  let to = now + 1;
  if (values.destination !== undefined) {
    const since = values.since === undefined ? undefined : parseWhen(values.since, now);
    const until = values.until === undefined ? to : parseWhen(values.until, now);
    if (since === undefined || until === undefined || until <= since) {
      process.stderr.write("ferry replay: --since (and --until, if given) must be ISO 8601 times or durations like 24h, with until after since\n");
      return 2;
    }
    [from, to] = [since, until];
  }
  const config = readConfig();
  if (!config) return 2;
  let backends;
  try {
    backends = await openBackends(config);
  } catch (err) {
    process.stderr.write(`ferry: ${(err as Error).message}\n`);
    return 1;
  }
  let progress: Progress | undefined;
  try {
    if (values.postback !== undefined) {
      const outcome = await resendPostback(backends, values.postback, undefined, now);
      const ok = outcome === "queued" || outcome === "rescheduled";
      (ok ? process.stdout : process.stderr).write(`ferry replay: ${values.postback}: ${outcome}\n`);
      return ok ? 0 : 1;
    }
    const destinationId = values.destination!;
    const result = await replayDestination(backends, destinationId, { from, to }, {
      now,
      onProgress: (done, total) => {
        progress ??= new Progress({ label: `ferry replay ${destinationId}`, unit: "postbacks", total });
        progress.update(done, total);
      },
    });
    progress?.finish();
    if (result === "not_found") {
      process.stderr.write(`ferry replay: no destination ${destinationId}\n`);
      return 1;
    }
    process.stdout.write(
      `ferry replay: ${destinationId}: ${result.replayed} postback${result.replayed === 1 ? "" : "s"} sent again, ` +
        `${result.skipped} skipped (queued or held), created ${new Date(from).toISOString()} to ${new Date(to).toISOString()}\n`,
    );
    return 0;
  } catch (err) {
    progress?.finish("stopped");
    process.stderr.write(`ferry replay: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await backends.close();
  }
}

async function receiver(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: "string", default: "9000" },
        host: { type: "string", default: "127.0.0.1" },
        status: { type: "string", default: "200" },
        "delay-ms": { type: "string", default: "0" },
        quiet: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`ferry receiver: ${(err as Error).message}\n`);
    return 2;
  }
  const port = Number(values.port);
  const status = Number(values.status);
  const delayMs = Number(values["delay-ms"]);
  const problems = [
    !(Number.isInteger(port) && port >= 0 && port <= 65535) && `--port must be a whole number from 0 to 65535, got "${values.port}"`,
    !(Number.isInteger(status) && status >= 200 && status <= 599) && `--status must be an HTTP status from 200 to 599, got "${values.status}"`,
    !(Number.isInteger(delayMs) && delayMs >= 0) && `--delay-ms must be a whole number of milliseconds, got "${values["delay-ms"]}"`,
  ].filter(Boolean);
  if (problems.length) {
    process.stderr.write(problems.map((p) => `ferry receiver: ${p}\n`).join(""));
    return 2;
  }
  const r = await startReceiver({
    port,
    host: values.host,
    record: false,
    respond: () => ({ status, delayMs }),
    onRequest: values.quiet
      ? undefined
      : (req) => {
          const time = new Date(req.receivedAt).toISOString().slice(11, 23);
          const body = req.body ? `  ${req.body.length > 200 ? req.body.slice(0, 200) + "…" : req.body}` : "";
          process.stdout.write(`${time} ${req.method} ${req.url}${body}\n`);
        },
  });
  process.stdout.write(`receiver listening on ${r.url}, answering ${status}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await r.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`ferry: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
