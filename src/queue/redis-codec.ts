/**
 * How the Redis queue packs its calls into ARGV strings and reads the functions' replies
 * (src/queue/redis/*.lua state the same formats from the Lua side). Pure: no Redis here, so
 * test/redis-codec.test.ts checks every format on its own.
 *
 * The formats are shaped for few bytes on the wire (at most 3× the data object per postback): a batch's ids travel as their
 * common prefix and short suffixes, an endpoint's JSON only when Redis may lack it, an entry
 * is named by its short member. A reply that does not have the promised shape is refused with
 * MalformedReplyError rather than read as something else.
 */
import type { Endpoint, HttpMethod } from "../core/types.js";
import type { EnqueueBatch, QueuedPostback, Reservation, Settlement } from "./port.js";

/** A reply from a Ferry function that does not have the shape its file promises. */
export class MalformedReplyError extends Error {
  constructor(fn: string, reply: unknown, why: string) {
    super(`the Redis function ${fn} gave a malformed reply (${why}): ${preview(reply)}`);
    this.name = "MalformedReplyError";
  }
}

function preview(reply: unknown): string {
  const text = JSON.stringify(reply) ?? String(reply);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

// ---- endpoints ----

/** [method, url, default, maxAttempts], then accountId and destinationId (null when unset) only when either is set. */
export function encodeEndpoint(e: Endpoint): string {
  const fields: unknown[] = [e.method, e.url, e.defaultValue, e.maxAttempts];
  if (e.accountId !== undefined || e.destinationId !== undefined) fields.push(e.accountId ?? null, e.destinationId ?? null);
  return JSON.stringify(fields);
}

export function decodeEndpoint(id: string, json: string): Endpoint {
  const fields: unknown = JSON.parse(json);
  // Only the shape is checked: find shows an endpoint Redis lost (read as "[]") with its id alone.
  if (!Array.isArray(fields)) throw new Error(`the queue holds a malformed endpoint ${id}: ${preview(json)}`);
  const [method, url, defaultValue, maxAttempts, accountId, destinationId] = fields as [HttpMethod, string, string, number, (string | null)?, (string | null)?];
  const endpoint: Endpoint = { id, method, url, defaultValue, maxAttempts };
  if (accountId != null) endpoint.accountId = accountId;
  if (destinationId != null) endpoint.destinationId = destinationId;
  return endpoint;
}

// ---- enqueue ----

/**
 * ARGV after the prefix, per batch: createdAt (then, only for resends, ":" and each entry's
 * attempts before, ","-joined; prefixed with "o" when any postback has an order key),
 * endpointId, endpointJson ("" to leave it out), idPrefix, suffixes ("\n"-joined), data…, and
 * with "o" one order key per postback ("" for none). Every batch must hold at least one
 * postback. An endpoint's JSON travels with the first batch naming it, and only when
 * `sendJson` asks for it. Batches without order keys cost nothing more than before.
 */
export function enqueueArgs(batches: readonly EnqueueBatch[], sendJson: (endpointId: string) => boolean): string[] {
  const args: string[] = [];
  const carried = new Set<string>();
  for (const batch of batches) {
    const id = batch.endpoint.id;
    let json = "";
    if (!carried.has(id) && sendJson(id)) {
      json = encodeEndpoint(batch.endpoint);
      carried.add(id);
    }
    pushBatchArgs(args, batch, json);
  }
  return args;
}

function pushBatchArgs(args: string[], batch: EnqueueBatch, endpointJson: string): void {
  const { endpoint, postbacks, createdAt } = batch;
  if (postbacks.length === 0) throw new Error("an empty batch has nothing to enqueue");
  let resend = false;
  let common = postbacks[0]!.id;
  for (const p of postbacks) {
    if (p.attempts) resend = true;
    const id = p.id;
    if (id.includes("\n")) throw new Error(`a postback id cannot hold a line break: ${JSON.stringify(id)}`);
    let k = 0;
    while (k < common.length && k < id.length && common.charCodeAt(k) === id.charCodeAt(k)) k++;
    common = common.slice(0, k);
  }
  // Attempts made before travel only for resends, after createdAt: nothing for new postbacks.
  const when = resend ? `${createdAt}:${postbacks.map((p) => p.attempts ?? 0).join(",")}` : String(createdAt);
  const ordered = postbacks.some((p) => p.orderKey);
  args.push(ordered ? `o${when}` : when, endpoint.id, endpointJson, common, postbacks.map((p) => p.id.slice(common.length)).join("\n"));
  for (const p of postbacks) args.push(p.data);
  if (ordered) for (const p of postbacks) args.push(p.orderKey ?? "");
}

export type EnqueueReply =
  | { kind: "queued"; count: number }
  /** The id repeats within the call or is already queued; nothing was queued. */
  | { kind: "duplicate"; id: string }
  /** An endpoint's JSON was left out and Redis does not have it; nothing was queued. */
  | { kind: "endpoint-missing" };

export function parseEnqueueReply(reply: unknown): EnqueueReply {
  if (typeof reply === "number" && Number.isInteger(reply) && reply >= 0) return { kind: "queued", count: reply };
  if (Array.isArray(reply)) {
    if (reply[0] === -1 && reply.length === 2 && typeof reply[1] === "string") return { kind: "duplicate", id: reply[1] };
    if (reply[0] === -2 && reply.length === 1) return { kind: "endpoint-missing" };
  }
  throw new MalformedReplyError("enqueue", reply, "expected a count, [-1, id] or [-2]");
}

// ---- members and batches ----

/** The batch a member belongs to: its first length-prefixed base-36 number. */
export function batchOf(member: string): string {
  return member.slice(0, 1 + Number(member[0]));
}

/** A member's index in its batch: its second length-prefixed base-36 number. */
export function indexOf(member: string): number {
  const end = 1 + Number(member[0]);
  return parseInt(member.slice(end + 1), 36);
}

/** A batch record, "createdAt\nendpointId\nidPrefix\nsuffix\nsuffix…", as a worker keeps it. */
export interface BatchRecord {
  createdAt: number;
  endpointId: string;
  ids: string[];
}

export function parseBatchRecord(record: string): BatchRecord {
  const [createdAt, endpointId, idPrefix, ...suffixes] = record.split("\n");
  if (idPrefix === undefined || suffixes.length === 0 || !/^\d+$/.test(createdAt!) || endpointId === "") {
    throw new Error(`the queue holds a malformed batch record: ${preview(record)}`);
  }
  return { createdAt: Number(createdAt), endpointId: endpointId!, ids: suffixes.map((s) => idPrefix + s) };
}

// ---- reserve ----

/** One entry of a reserve reply. */
export interface ReservedEntry {
  member: string;
  batch: string;
  index: number;
  attempt: number;
  /** The lease proof a settle names: "member,lease". */
  lease: string;
  data: string;
}

export interface ReserveReply {
  entries: ReservedEntry[];
  /** batch → its createdAt as text, for each batch the entries name. */
  batches: Map<string, string>;
}

/** A member: two length-prefixed base-36 numbers. */
const MEMBER = /^[1-9][0-9a-z]+$/;

export function parseReserveReply(reply: unknown): ReserveReply {
  if (!Array.isArray(reply)) throw new MalformedReplyError("reserve", reply, "expected a list");
  if (reply.length === 0) return { entries: [], batches: new Map() };
  if (reply.length < 2) throw new MalformedReplyError("reserve", reply, "entries without the batch list");
  const batches = new Map<string, string>();
  const last = reply[reply.length - 1];
  if (typeof last !== "string") throw new MalformedReplyError("reserve", reply, "the batch list is not a string");
  for (const pair of last.split(",")) {
    const colon = pair.indexOf(":");
    if (colon <= 0) throw new MalformedReplyError("reserve", reply, `batch "${pair}" without its createdAt`);
    batches.set(pair.slice(0, colon), pair.slice(colon + 1));
  }
  const entries: ReservedEntry[] = [];
  for (let i = 0; i < reply.length - 1; i++) {
    const row: unknown = reply[i];
    if (typeof row !== "string") throw new MalformedReplyError("reserve", reply, `entry ${i} is not a string`);
    const c1 = row.indexOf(",");
    const c2 = row.indexOf(",", c1 + 1);
    const c3 = row.indexOf(",", c2 + 1);
    if (c1 <= 0 || c2 < 0 || c3 < 0) throw new MalformedReplyError("reserve", reply, `entry ${i} lacks member, attempts, lease or data`);
    const member = row.slice(0, c1);
    const attempt = Number(row.slice(c1 + 1, c2));
    const lease = row.slice(c2 + 1, c3);
    const batch = batchOf(member);
    if (!MEMBER.test(member) || batch.length >= member.length) throw new MalformedReplyError("reserve", reply, `entry ${i} has a malformed member`);
    if (!Number.isInteger(attempt) || attempt < 1 || !/^\d+$/.test(lease)) throw new MalformedReplyError("reserve", reply, `entry ${i} has a malformed attempt or lease`);
    if (!batches.has(batch)) throw new MalformedReplyError("reserve", reply, `entry ${i} names batch ${batch}, which the batch list lacks`);
    entries.push({ member, batch, index: indexOf(member), attempt, lease: `${member},${lease}`, data: row.slice(c3 + 1) });
  }
  return { entries, batches };
}

// ---- settle ----

/**
 * ARGV after the prefix: up to four groups, a kind ("d" done, "r" retry, "l" release, "h" hold)
 * followed by its entries joined by ";": "member,lease" (done), "member,lease,at" (retry,
 * release) or "member,lease,destinationId" (hold).
 */
export function settleArgs(settlements: readonly Settlement[]): string[] {
  const groups = { done: [] as string[], retry: [] as string[], release: [] as string[], hold: [] as string[] };
  for (const { reservation, settle } of settlements) {
    if (settle.kind === "done") groups.done.push(reservation.lease);
    else if (settle.kind === "hold") groups.hold.push(`${reservation.lease},${holdFor(reservation)}`);
    else groups[settle.kind].push(`${reservation.lease},${settle.at}`);
  }
  const args: string[] = [];
  if (groups.done.length) args.push("d" + groups.done.join(";"));
  if (groups.retry.length) args.push("r" + groups.retry.join(";"));
  if (groups.release.length) args.push("l" + groups.release.join(";"));
  if (groups.hold.length) args.push("h" + groups.hold.join(";"));
  return args;
}

/** The destination a held entry waits for: the reservation's, which a hold requires. */
function holdFor(r: Reservation): string {
  const id = r.endpoint.destinationId;
  if (!id) throw new Error(`postback ${r.postbackId} cannot be held: its endpoint has no destination`);
  if (id.includes(";")) throw new Error(`a destination id cannot hold ";": ${JSON.stringify(id)}`);
  return id;
}

/** settle_reserve answers settle's count, then reserve's reply. */
export function parseSettleReserveReply(reply: unknown): { settled: number; reserved: ReserveReply } {
  if (!Array.isArray(reply) || reply.length === 0) throw new MalformedReplyError("settle_reserve", reply, "expected [settled, …reserve's reply]");
  return { settled: parseCount("settle_reserve", reply[0]), reserved: parseReserveReply(reply.slice(1)) };
}

/** settle, unhold and reschedule answer with a count. */
export function parseCount(fn: string, reply: unknown): number {
  if (typeof reply === "number" && Number.isInteger(reply) && reply >= 0) return reply;
  throw new MalformedReplyError(fn, reply, "expected a count");
}

// ---- stats and listings ----

/** stats answers {ready, queued}: entries due now, and every entry not held. */
export function parseStatsReply(reply: unknown): { ready: number; waiting: number } {
  const ok = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
  if (!Array.isArray(reply) || reply.length !== 2 || !ok(reply[0]) || !ok(reply[1]) || reply[1] < reply[0]) {
    throw new MalformedReplyError("stats", reply, "expected [ready, queued] with ready ≤ queued");
  }
  return { ready: reply[0], waiting: reply[1] - reply[0] };
}

/** latest answers a list of members. */
export function parseMembers(reply: unknown): string[] {
  if (!Array.isArray(reply) || !reply.every((m) => typeof m === "string" && MEMBER.test(m))) {
    throw new MalformedReplyError("latest", reply, "expected a list of members");
  }
  return reply as string[];
}

// ---- find ----

export function parseFindReply(postbackId: string, reply: unknown): QueuedPostback | undefined {
  if (reply === null) return undefined;
  if (!Array.isArray(reply) || reply.length < 4) throw new MalformedReplyError("find", reply, "expected nil or [meta, data, dueAt, record, endpointJson, blocked]");
  // blocked (ferry_v5): 1 while it waits behind its line's head, when dueAt is nil too.
  const [meta, data, score, record, json, blocked] = reply as unknown[];
  if (typeof meta !== "string" || typeof data !== "string" || typeof record !== "string") {
    throw new MalformedReplyError("find", reply, "meta, data and record must be strings");
  }
  if (score !== null && score !== undefined && typeof score !== "string") throw new MalformedReplyError("find", reply, "dueAt must be a string or nil");
  const attempts = Number(meta.slice(0, meta.indexOf(",")));
  if (!meta.includes(",") || !Number.isInteger(attempts)) throw new MalformedReplyError("find", reply, "meta is not attempts,lease,id");
  const e1 = record.indexOf("\n");
  const e2 = record.indexOf("\n", e1 + 1);
  if (e1 <= 0 || e2 < 0) throw new MalformedReplyError("find", reply, "the batch record lacks createdAt or endpoint");
  const held = score == null && blocked !== 1;
  return {
    postbackId,
    endpoint: decodeEndpoint(record.slice(e1 + 1, e2), typeof json === "string" ? json : "[]"),
    data,
    attempts,
    dueAt: score == null ? null : Number(score),
    held,
    createdAt: Number(record.slice(0, e1)),
  };
}
