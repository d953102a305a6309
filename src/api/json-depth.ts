/**
 * How deeply a JSON text nests, found before it is parsed. Parsing a deep text succeeds, but
 * everything after it that walks the value recursively (JSON.stringify for the queue and the
 * store, idempotency hashing, template rendering) overflows the stack at some thousands of
 * levels and would answer 500; a bound at the door keeps every route safe at once.
 */

/** The deepest nesting of arrays and objects a JSON body may have, the outermost counted. */
export const MAX_JSON_DEPTH = 100;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether the text nests arrays and objects more than `max` levels deep. One pass over the text
 * without allocating, skipping strings (brackets in them are not nesting). Malformed JSON gives
 * some answer; JSON.parse refuses it afterwards either way.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = closingQuote(text, i);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

/** The index of the quote that closes the string opened at `open`, or the text's length if none does. */
function closingQuote(text: string, open: number): number {
  let i = open;
  for (;;) {
    i = text.indexOf('"', i + 1);
    if (i === -1) return text.length;
    // A quote after an odd number of backslashes is escaped and inside the string.
    let backslashes = 0;
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
}
