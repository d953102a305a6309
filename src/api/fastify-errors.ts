/**
 * fastify's own client errors (a body too large or malformed, an unknown content type, a bad
 * URL) given Ferry's codes: for the API's error handler and for the compat modules', which answer
 * them in their systems' shapes.
 */
import type { FastifyError } from "fastify";
import { ApiError, type ApiErrorCode } from "../core/errors.js";

/** The code and detail for one of fastify's client errors; undefined for anything else. */
export function mapFastifyError(err: FastifyError): { code: ApiErrorCode; detail: string } | undefined {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { code: "body_too_large", detail: "The body is larger than the limit (FERRY_MAX_BODY_BYTES); send fewer data objects per request." };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { code: "unsupported_media_type", detail: "Send JSON with Content-Type: application/json." };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return { code: "invalid_json", detail: "The body is empty; send a JSON object." };
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      // fastify's message claims the content type was application/json, whatever it was.
      return { code: "invalid_json", detail: 'The body is not valid JSON; check its quotes, commas and brackets (a "__proto__" key, or a "constructor" key holding "prototype", is refused too).' };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { code: "bad_request", detail: "Content-Length does not match the body sent." };
    case "FST_ERR_BAD_URL":
      return { code: "bad_request", detail: "The path holds a malformed percent-escape (such as %ZZ); encode % as %25." };
    case "FST_ERR_MAX_PARAM_LENGTH":
      return { code: "url_too_long", detail: "A part of the path is longer than 100 characters; no id Ferry makes is that long." };
  }
  if (err instanceof SyntaxError || err.statusCode === 400 && /JSON/i.test(err.message)) {
    return { code: "invalid_json", detail: `The body is not valid JSON: ${err.message}` };
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return { code: "bad_request", detail: err.message };
  }
  return undefined;
}

/** The same as an ApiError, for a handler that throws or shapes it itself. */
export function fastifyProblem(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return undefined;
  const mapped = mapFastifyError(err as FastifyError);
  return mapped ? new ApiError(mapped.code, mapped.detail) : undefined;
}
