/** The row shape both SQL stores read a postback into, and its translation to the port's words. */
import type { AttemptErrorCode } from "../core/errors.js";
import type { HttpMethod, PostbackState } from "../core/types.js";
import type { Attempt, PostbackRecord } from "./port.js";

/** A postback joined with its endpoint, columns as both schemas name them. */
export interface PostbackRow {
  id: string;
  data: string;
  state: string;
  created_at: number;
  updated_at: number;
  next_attempt_at: number | null;
  reason: string | null;
  endpoint_id: string;
  method: string;
  url: string;
  default_value: string;
  max_attempts: number;
}

export function postbackFromRow(row: PostbackRow, attempts: Attempt[]): PostbackRecord {
  return {
    id: row.id,
    endpoint: {
      id: row.endpoint_id,
      method: row.method as HttpMethod,
      url: row.url,
      defaultValue: row.default_value,
      maxAttempts: row.max_attempts,
    },
    data: row.data,
    state: row.state as PostbackState,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextAttemptAt: row.next_attempt_at,
    reason: row.reason,
    attempts: attempts.map((a) => ({ ...a, error: a.error as AttemptErrorCode | null })),
  };
}
