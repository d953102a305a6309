#!/usr/bin/env node
/**
 * The `ferry` command: start | api | worker | migrate | doctor | replay | receiver | demo. Settings come from FERRY_* variables
 * (see docs/operations.md); a bad one stops start-up with a line that names it.
 */
import { parseArgs } from "node:util";
import { readConfig } from "./read-config.js";
import { BackendError, redact } from "../backend-error.js";
import { sqlitePath } from "../backends.js";
import { migratePostgres } from "../store/postgres-migrations.js";
import { runRole, type Role } from "../service.js";
import { startReceiver } from "../receiver.js";
import { demo } from "./demo-calls.js";
import { replay } from "./replay.js";
import { doctor } from "../doctor/run.js";
import { VERSION } from "../version.js";

const USAGE = `ferry ${VERSION} — real-time delivery of postbacks and webhooks

Usage: ferry <command> [options]

Commands:
  start      API and delivery worker in one process (what npm start runs)
  api        the HTTP API only: ingest, health, postback lookups
  worker     the delivery worker only
  migrate    apply the Postgres schema (FERRY_DATABASE_URL); SQLite needs none
  doctor     check the settings and what they point at (data dir, disk, SQLite, Redis, Postgres,
             clocks, SSRF guard, admin token) and say what to fix; run it first when paged
             --json   one JSON document {ok, checks: [{name, status, message, fix}]}
             exit 0: nothing failed (warnings allowed); 1: a check failed; 2: the config is invalid
  replay     send failed postbacks again (runs from cron too)
             --destination ID --since TIME [--until TIME]   every failed or dead
                 postback of the destination created in the range
             --postback ID                                  one postback
             TIME: ISO 8601 (2026-11-23T00:00:00Z) or a duration back from now (24h, 30m, 7d)
             Direct by default: the storage FERRY_* settings name. With --url URL (FERRY_URL),
             through that Ferry's API instead, with --token T (FERRY_TOKEN or FERRY_ADMIN_TOKEN).
             Progress goes to stderr: one line redrawn on a terminal, plain lines elsewhere.
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
  ferry doctor
  ferry receiver --port 9000
  ferry replay --destination dst_01JD... --since 24h
  FERRY_URL=http://ferry.internal:8080 FERRY_TOKEN=... ferry replay --destination dst_01JD... --since 24h
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
    case "doctor":
      return doctor(rest);
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
