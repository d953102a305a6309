/**
 * `ferry demo calls`: fun-with-webhooks' random-calls producer, played against a running Ferry.
 * Every interval it finds the enabled clients (accounts whose external id starts `webhooks:`
 * with an enabled destination) and pushes each a `call.standby` for half of a set of contact
 * numbers, chosen at random. It talks to Ferry's HTTP API only (GET /v1/accounts,
 * GET /v1/destinations, POST /v1/push with the admin token), so the calls take the path any
 * push takes and show up in the dashboard.
 */
import { parseArgs } from "node:util";
import { randomInt } from "node:crypto";
// The original's clients were rows with `enabled`; here they are accounts with this external-id prefix.
import { CLIENT_PREFIX } from "../compat/webhooks.js";

/** The original produced calls for 10 contact numbers. */
export const DEFAULT_NUMBERS = 10;
const MAX_NUMBERS = 10_000;
/** Objects per push: well under FERRY_MAX_BATCH's default of 1000. */
const PUSH_CHUNK = 100;
const PAGE = 100;

export interface Client {
  accountId: string;
  /** The name it registered with (the external id without its prefix). */
  name: string;
}

/** N distinct 14-character numbers shaped as the original's, "(11) 1111-1010". */
export function contactNumbers(n: number, random: (max: number) => number = randomInt): string[] {
  const set = new Set<string>();
  while (set.size < n) {
    const digits = String(random(100_000_000)).padStart(8, "0");
    set.add(`(11) ${digits.slice(0, 4)}-${digits.slice(4)}`);
  }
  return [...set];
}

/** Half of the numbers (rounded up), each once, in random order: a round's calls. */
export function pickHalf(numbers: readonly string[], random: (max: number) => number = randomInt): string[] {
  const pool = [...numbers];
  // A partial Fisher-Yates shuffle: the first ceil(n/2) places are a uniform random draw.
  const count = Math.ceil(pool.length / 2);
  for (let i = 0; i < count; i++) {
    const j = i + random(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

/** An answer Ferry gave that stops the demo (a bad token) or only this round (anything else). */
class ApiCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A small client of Ferry's admin API. */
export class FerryClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  private async call(method: "GET" | "POST", path: string, body?: unknown): Promise<any> {
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) {
      let detail = text.slice(0, 300);
      try {
        const problem = JSON.parse(text) as { code?: string; detail?: string };
        if (problem.code) detail = `${problem.code}: ${problem.detail ?? ""}`;
      } catch {
        // not JSON: the text it is
      }
      throw new ApiCallError(`${method} ${path} answered ${res.status} (${detail})`, res.status);
    }
    return text ? JSON.parse(text) : undefined;
  }

  /** Every item of a paginated list. */
  private async all(path: string): Promise<any[]> {
    const items: any[] = [];
    let after: string | null = null;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page: { data: any[]; next_after: string | null } = await this.call(
        "GET",
        `${path}${sep}limit=${PAGE}${after ? `&after=${encodeURIComponent(after)}` : ""}`,
      );
      items.push(...page.data);
      after = page.next_after;
    } while (after);
    return items;
  }

  /**
   * The enabled clients: `GET /v1/accounts?external_id=` matches one id exactly, so every account
   * is listed and filtered on the prefix; a client is enabled while a destination of its is.
   */
  async enabledClients(): Promise<Client[]> {
    const accounts = (await this.all("/v1/accounts")).filter(
      (a) => typeof a.external_id === "string" && a.external_id.startsWith(CLIENT_PREFIX),
    );
    const clients: Client[] = [];
    for (const a of accounts) {
      const destinations = await this.all(`/v1/destinations?account_id=${encodeURIComponent(a.id)}`);
      if (destinations.some((d) => d.enabled === true)) clients.push({ accountId: a.id, name: a.external_id.slice(CLIENT_PREFIX.length) });
    }
    return clients;
  }

  /** Pushes one call.standby per number to the account; returns the postbacks queued. */
  async pushCalls(accountId: string, numbers: readonly string[]): Promise<number> {
    let queued = 0;
    for (let i = 0; i < numbers.length; i += PUSH_CHUNK) {
      const calls = numbers.slice(i, i + PUSH_CHUNK).map((contactNumber) => ({ type: "call.standby", contactNumber }));
      const result = await this.call("POST", `/v1/push?account_id=${encodeURIComponent(accountId)}&type=call.standby`, calls);
      queued += (result?.postbacks?.length as number | undefined) ?? 0;
    }
    return queued;
  }
}

export interface RoundResult {
  clients: Client[];
  calls: number;
  postbacks: number;
}

/** One round: the calls for every enabled client. */
export async function playRound(client: FerryClient, numbers: readonly string[]): Promise<RoundResult> {
  const clients = await client.enabledClients();
  let calls = 0;
  let postbacks = 0;
  for (const c of clients) {
    const chosen = pickHalf(numbers);
    postbacks += await client.pushCalls(c.accountId, chosen);
    calls += chosen.length;
  }
  return { clients, calls, postbacks };
}

const USAGE = `Usage: ferry demo calls [--interval-ms 1000] [--numbers ${DEFAULT_NUMBERS}] [--rounds N] [--url URL] [--token TOKEN]
  Plays fun-with-webhooks' call generator: every interval, for every enabled client (registered
  with POST /webhook), a call.standby for half of N random contact numbers, pushed through
  Ferry's API. --url (or FERRY_URL) is Ferry's base URL; --token (or FERRY_ADMIN_TOKEN) the
  admin token. Stops on Ctrl-C (SIGINT) or SIGTERM, or after --rounds rounds.
`;

function wholeNumber(value: string, name: string, min: number, max: number): number | string {
  const n = Number(value);
  return /^\d+$/.test(value) && n >= min && n <= max ? n : `--${name} must be a whole number from ${min} to ${max}, got "${value}"`;
}

/** `ferry demo <what> ...`; returns the exit code. */
export async function demo(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [what, ...rest] = args;
  if (what !== "calls") {
    process.stderr.write(`ferry demo: ${what === undefined ? "say what to play" : `unknown demo "${what}"`}; there is one\n${USAGE}`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        "interval-ms": { type: "string", default: "1000" },
        numbers: { type: "string", default: String(DEFAULT_NUMBERS) },
        rounds: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`ferry demo calls: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const interval = wholeNumber(values["interval-ms"], "interval-ms", 10, 3_600_000);
  const count = wholeNumber(values.numbers, "numbers", 1, MAX_NUMBERS);
  const rounds = values.rounds === undefined ? Infinity : wholeNumber(values.rounds, "rounds", 1, 1_000_000);
  const url = values.url ?? env["FERRY_URL"];
  // The token from the environment rather than the command line keeps it out of `ps`.
  const token = values.token ?? env["FERRY_ADMIN_TOKEN"];
  const problems = [
    typeof interval === "string" && interval,
    typeof count === "string" && count,
    typeof rounds === "string" && rounds,
    !url && "give Ferry's base URL with --url or FERRY_URL (e.g. http://127.0.0.1:8080)",
    url && !/^https?:\/\/[^/]/i.test(url) && `--url must be an http(s) URL, got "${url.slice(0, 100)}"`,
    !token && "give the admin token with FERRY_ADMIN_TOKEN (or --token)",
  ].filter(Boolean);
  if (problems.length) {
    process.stderr.write(problems.map((p) => `ferry demo calls: ${p}\n`).join(""));
    return 2;
  }
  const client = new FerryClient(url!, token!);
  const numbers = contactNumbers(count as number);
  process.stdout.write(`ferry demo calls: ${numbers.length} contact numbers, ${Math.ceil(numbers.length / 2)} calls per client every ${interval} ms, to ${url}\n`);

  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    for (let round = 1; round <= (rounds as number) && !stopping; round++) {
      const started = Date.now();
      try {
        const r = await playRound(client, numbers);
        const names = r.clients.map((c) => c.name).join(", ");
        process.stdout.write(
          `round ${round}: ${r.calls} call${r.calls === 1 ? "" : "s"} to ${r.clients.length} client${r.clients.length === 1 ? "" : "s"}` +
            `${names ? ` (${names})` : ""}, ${r.postbacks} postback${r.postbacks === 1 ? "" : "s"} queued\n`,
        );
      } catch (err) {
        // A wrong token will not get better; anything else (Ferry restarting) may next round.
        if (err instanceof ApiCallError && err.status === 401) {
          process.stderr.write(`ferry demo calls: ${err.message}; check FERRY_ADMIN_TOKEN\n`);
          return 1;
        }
        process.stderr.write(`ferry demo calls: round ${round} failed: ${(err as Error).message}\n`);
      }
      if (round >= (rounds as number) || stopping) break;
      const wait = Math.max(0, (interval as number) - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  process.stdout.write("ferry demo calls: stopped\n");
  return 0;
}
