/**
 * The checks fun-with-webhooks made on `POST /webhook` {"name","callbackURL"}, with the answer
 * its clients read: a 400 whose body is the list of every problem (it validated with Joi 13,
 * abortEarly off, and sent `error.details` as they were), each
 * `{"message":"\"name\" is required","path":["name"],"type":"any.required","context":{...}}`.
 * Ferry adds its stable `code` to each.
 */

/** One problem, shaped as a Joi 13 error detail. */
export interface RegistrationProblem {
  message: string;
  path: string[];
  type: string;
  context: Record<string, unknown>;
}

export interface Registration {
  name: string;
  callbackURL: string;
}

const FIELDS = ["name", "callbackURL"] as const;
const NAME_MIN = 3;
const MAX = 255;
/** The characters RFC 3986 allows in a URI (Joi's uri check is that grammar). */
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
/** scheme "://" authority: Joi with `scheme: ['http','https']` took no other form. */
const HTTP_URI = /^https?:\/\/[^/?#]+(?:[/?#]|$)/i;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

function problem(key: string, type: string, message: string, context: Record<string, unknown>): RegistrationProblem {
  return { message: `"${key}" ${message}`, path: [key], type, context: { ...context, key, label: key } };
}

/** A string field's problems, in the order Joi reported them. */
function stringProblems(key: string, value: unknown, min: number | undefined): RegistrationProblem[] {
  if (value === undefined) return [problem(key, "any.required", "is required", {})];
  if (typeof value !== "string") return [problem(key, "string.base", "must be a string", { value })];
  if (value === "") return [problem(key, "any.empty", "is not allowed to be empty", { value, invalids: [""] })];
  const out: RegistrationProblem[] = [];
  if (min !== undefined && value.length < min) {
    out.push(problem(key, "string.min", `length must be at least ${min} characters long`, { limit: min, value }));
  }
  return out;
}

/**
 * Every problem of the body, or the registration when there is none. `isDeliverable` is Ferry's
 * own URL check (a URL Joi took but Ferry cannot deliver to is refused the same way).
 */
export function checkRegistration(
  body: unknown,
  isDeliverable: (url: string) => boolean,
): { ok: true; value: Registration } | { ok: false; problems: RegistrationProblem[] } {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, problems: [{ message: '"value" must be an object', path: [], type: "object.base", context: { label: "value" } }] };
  }
  const b = body as Record<string, unknown>;
  const problems: RegistrationProblem[] = [];

  const name = b["name"];
  problems.push(...stringProblems("name", name, NAME_MIN));
  if (typeof name === "string" && name.length > MAX) {
    problems.push(problem("name", "string.max", `length must be less than or equal to ${MAX} characters long`, { limit: MAX, value: name }));
  }
  // A NUL cannot be stored in Postgres; no name a client chose holds one.
  if (typeof name === "string" && name.includes("\u0000")) {
    problems.push(problem("name", "string.base", "must not contain a NUL character", { value: name }));
  }

  const url = b["callbackURL"];
  problems.push(...stringProblems("callbackURL", url, undefined));
  if (typeof url === "string" && url !== "") {
    const uri = URI_CHARS.test(url) && !BAD_ESCAPE.test(url) && HTTP_URI.test(url) && isDeliverable(url);
    if (!uri) {
      problems.push(problem("callbackURL", "string.uriCustomScheme", "must be a valid uri with a scheme matching the http|https pattern", { scheme: "http|https", value: url }));
    }
    if (url.length > MAX) {
      problems.push(problem("callbackURL", "string.max", `length must be less than or equal to ${MAX} characters long`, { limit: MAX, value: url }));
    }
  }

  for (const key of Object.keys(b)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      problems.push({ message: `"${key}" is not allowed`, path: [key], type: "object.allowUnknown", context: { child: key, key, label: key, value: b[key] } });
    }
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, value: { name: name as string, callbackURL: url as string } };
}
