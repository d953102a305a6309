/**
 * Clock skew between this host and a server (Redis, Postgres), and how much of it Ferry can take.
 *
 * Why the bounds: a worker stamps a lease's end with its own clock, and another worker decides
 * from its own clock that the lease has ended and the postback is due again. Two hosts each `s`
 * off the server's clock, in opposite directions, are `2s` off each other; a lease outlasts one
 * attempt by `FERRY_LEASE_MS - FERRY_TIMEOUT_MS` (at least one timeout, which config enforces).
 * Once `2s` eats that margin, a postback still being attempted can be taken by a second worker
 * and sent twice: fail at `s >= (lease - timeout) / 2` (25 s with the defaults). Below that,
 * skew only shifts retries and the `timestamp_in_future` window a little, but anything above
 * half a second means NTP is not doing its job: warn.
 */
import type { Config } from "../config.js";
import { clockSkew, fail, ok, warn, type Finding } from "./check.js";

export const SKEW_WARN_MS = 500;

export function skewFailMs(config: Pick<Config, "lease_ms" | "timeout_ms">): number {
  return Math.max(SKEW_WARN_MS * 2, (config.lease_ms - config.timeout_ms) / 2);
}

export function skewFinding(
  name: string,
  server: string,
  serverMs: number,
  sentAt: number,
  receivedAt: number,
  config: Pick<Config, "lease_ms" | "timeout_ms">,
): Finding {
  const { skewMs, rttMs } = clockSkew(serverMs, sentAt, receivedAt);
  const off = Math.abs(skewMs);
  const text = `${server}'s clock is ${Math.round(off)} ms ${skewMs >= 0 ? "ahead of" : "behind"} this host's (round trip ${Math.round(rttMs)} ms, so ±${Math.ceil(rttMs / 2)} ms)`;
  const bound = skewFailMs(config);
  if (off >= bound) {
    return fail(name, `${text}: enough for a worker to take a postback whose lease has not ended (limit ${Math.round(bound)} ms, from FERRY_LEASE_MS - FERRY_TIMEOUT_MS)`, `sync the clocks with NTP (chrony or systemd-timesyncd) on this host and the ${server} host`);
  }
  if (off >= SKEW_WARN_MS) {
    return warn(name, `${text}`, `sync the clocks with NTP (chrony or systemd-timesyncd) on this host and the ${server} host`);
  }
  return ok(name, text);
}
