/**
 * `ferry replay` through Ferry's HTTP API with @ferry/client (`--url` or FERRY_URL, and a token):
 * for a host that cannot open Ferry's storage, or an account's operator who has a token and
 * nothing else. The server does the work (the same use case as the direct mode).
 *
 * Progress needs a total and steps, but POST /v1/destinations/{id}/replay is one call that
 * answers when all is done. So the delivery log first lists the destination's dead and failed
 * postbacks in the range (GET /v1/postbacks, a page of 100 at a time): their number is the total
 * and their creation times cut the range into slices of SLICE postbacks; each slice is then one
 * replay call, and the display moves as each answers.
 */
import type { Ferry, PostbackState } from "@ferry/client";

/** Postbacks per replay call: a call answers within a second or so, so the display keeps moving. */
export const SLICE = 500;
const LOG_PAGE = 100;

export interface ApiReplayResult {
  replayed: number;
  skipped: number;
}

/** The creation times (ms) of the destination's dead and failed postbacks in [from, to), oldest first. */
export async function failedCreationTimes(ferry: Ferry, destinationId: string, range: { from: number; to: number }): Promise<number[]> {
  const times: number[] = [];
  const since = new Date(range.from).toISOString();
  const until = new Date(range.to).toISOString();
  for (const state of ["dead", "failed"] satisfies PostbackState[]) {
    let after: string | undefined;
    do {
      const page = await ferry.postbacks.search({ destination_id: destinationId, state, since, until, limit: LOG_PAGE, ...(after ? { after } : {}) });
      for (const p of page.data) {
        // The log's since/until bound the id's time; replay's range is the creation time: keep
        // exactly what replay takes.
        const at = Date.parse(p.created_at);
        if (at >= range.from && at < range.to) times.push(at);
      }
      after = page.next_after ?? undefined;
    } while (after);
  }
  return times.sort((a, b) => a - b);
}

/**
 * [from, to) cut into slices of about `size` of the sorted times each, covering it exactly. A
 * replay call takes a range of milliseconds, so the postbacks of one millisecond (a push makes
 * many) always go to one slice: a slice can hold more than `size`, never none.
 */
export function slices(times: number[], range: { from: number; to: number }, size = SLICE): { from: number; to: number }[] {
  const cuts = [range.from];
  let start = 0; // the slice's first postback
  for (;;) {
    let i = start + size;
    if (i >= times.length) break;
    // The cut is at times[i]: that millisecond goes to the next slice. When it is the slice's
    // own first millisecond, the slice takes the whole of it and the cut moves past.
    while (i < times.length && times[i] === times[start]) i++;
    if (i >= times.length) break;
    const cut = times[i]!;
    cuts.push(cut);
    while (times[start]! < cut) start++;
  }
  cuts.push(range.to);
  return cuts.slice(0, -1).map((from, k) => ({ from, to: cuts[k + 1]! }));
}

/**
 * Sends again every failed or dead postback of the destination created in [from, to), one slice
 * per POST /v1/destinations/{id}/replay. Throws the client's FerryError (destination_not_found,
 * a bad token, no answer) as it comes.
 */
export async function replayThroughApi(
  ferry: Ferry,
  destinationId: string,
  range: { from: number; to: number },
  onProgress: (done: number, total: number) => void = () => {},
): Promise<ApiReplayResult> {
  const times = await failedCreationTimes(ferry, destinationId, range);
  const total = times.length;
  const result: ApiReplayResult = { replayed: 0, skipped: 0 };
  onProgress(0, total);
  // At least one call, even with nothing listed: it is the call that says a destination is missing.
  for (const slice of slices(times, range)) {
    const answer = await ferry.destinations.replay(destinationId, { since: new Date(slice.from).toISOString(), until: new Date(slice.to).toISOString() });
    result.replayed += answer.replayed;
    result.skipped += answer.skipped;
    onProgress(result.replayed + result.skipped, total);
  }
  return result;
}
