#!/usr/bin/env node
/**
 * Readiness probe for the systemd units' ExecStartPost (and usable by hand): polls Ferry until
 * it is ready, exit 0; after --timeout seconds, exit 1 with the last answer on stderr, and
 * systemd marks the start failed (then Restart=always tries again).
 *
 *   ferry-ready.mjs            GET http://127.0.0.1:$FERRY_PORT/readyz must answer 200
 *                              (store and queue reachable: src/api/app.ts)
 *   ferry-ready.mjs --worker   a worker has no API: with FERRY_METRICS_PORT set, its
 *                              GET /metrics must answer 200 (the process is up and serving);
 *                              without it there is nothing to ask, so it exits 0 at once and
 *                              readiness is "the process did not exit": a worker that cannot
 *                              reach Redis or Postgres exits non-zero at start-up.
 *   --url URL                  probe this URL instead
 *   --timeout SECONDS          default 60
 *
 * Node only (global fetch), so the host and the container image need no curl. The settings
 * come from the same EnvironmentFile as the service's.
 */
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const env = process.env;
// A wildcard listen address is reached on loopback; a specific one is asked directly.
const host = !env.FERRY_HOST || env.FERRY_HOST === "0.0.0.0" ? "127.0.0.1" : env.FERRY_HOST === "::" ? "[::1]" : env.FERRY_HOST.includes(":") ? `[${env.FERRY_HOST}]` : env.FERRY_HOST;
let url = flag("--url");
if (!url) {
  if (args.includes("--worker")) {
    const port = Number(env.FERRY_METRICS_PORT ?? 0);
    if (!port) process.exit(0);
    url = `http://${host}:${port}/metrics`;
  } else {
    url = `http://${host}:${env.FERRY_PORT || 8080}/readyz`;
  }
}
const timeoutMs = Number(flag("--timeout") ?? 60) * 1000;
const deadline = Date.now() + timeoutMs;
let last = "no answer yet";
for (;;) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = await res.text();
    if (res.status === 200) process.exit(0);
    last = `${res.status} ${body.slice(0, 300)}`;
  } catch (err) {
    last = err.cause?.code ?? err.message;
  }
  if (Date.now() > deadline) {
    console.error(`ferry-ready: ${url} not ready after ${timeoutMs / 1000} s: ${last}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));
}
