/**
 * Which line a postback joins (the queue's NewPostback.orderKey), from its destination's
 * ordering (issue 14). Pure; the app asks for a rule once per destination and applies it to
 * each data object.
 *
 * - "none": no line; postbacks go side by side (the default, fastest).
 * - "destination": one line per destination, named by its id.
 * - "key": one line per destination and rendered ordering_key (default "{session_id}"), e.g.
 *   "dst_…" + ORDER_KEY_SEPARATOR + "user%2042". Placeholders render as in URL templates
 *   (core/template.ts), a missing or null one as the empty string. When every placeholder is
 *   missing (or null) from the data object, the postback joins no line and is sent freely:
 *   an object that names no key cannot be ordered against anything, and lumping all such
 *   objects into one line would make them a bottleneck nobody asked for.
 */
import { createHash } from "node:crypto";
import { compileTemplate, lookup, renderTemplate } from "./template.js";
import { DEFAULT_ORDERING_KEY, type Destination } from "./types.js";

/**
 * Between the destination id and the rendered key. A destination id never holds it, so lines
 * of different destinations never share a name.
 */
export const ORDER_KEY_SEPARATOR = " ";

/**
 * Rendered keys longer than this are replaced by their SHA-256 (hex): a key comes from the
 * sender's data, and the queue keeps it per entry (SQLite) or in a key name (Redis), so its
 * size stays bounded whatever a data object holds. Two keys that differ stay apart.
 */
export const MAX_RENDERED_KEY = 128;

/** A data object's line, or undefined for none. */
export type OrderKeyRule = (data: Record<string, unknown>) => string | undefined;

/** The destination's rule, or undefined when it keeps no order (nothing to compute per postback). */
export function orderKeyRule(d: Pick<Destination, "id" | "ordering" | "orderingKey">): OrderKeyRule | undefined {
  if (d.ordering === "none") return undefined;
  if (d.ordering === "destination") return () => d.id;
  const template = compileTemplate(d.orderingKey ?? DEFAULT_ORDERING_KEY);
  const named = (data: Record<string, unknown>) => template.keys.some((k) => lookup(data, k) != null);
  return (data) => (template.keys.length > 0 && !named(data) ? undefined : d.id + ORDER_KEY_SEPARATOR + bounded(renderTemplate(template, data, "")));
}

function bounded(key: string): string {
  return key.length <= MAX_RENDERED_KEY ? key : "sha256:" + createHash("sha256").update(key).digest("hex");
}
