/**
 * The seed systems' routes as the OpenAPI document shows them (FERRY_COMPAT on): their own
 * bodies and answers, in their own envelopes, each error with Ferry's stable `code` added.
 * Descriptive only, as Ferry's own route schemas are (src/api/openapi.ts): the modules check
 * their requests themselves, with their systems' messages. Keyed by "METHOD path";
 * src/compat/index.ts attaches each to its route, tagged compat.
 */

const OPEN_OBJECT = { type: "object", additionalProperties: true } as const;
const NULLABLE_STRING = { type: ["string", "null"] } as const;

/** Data Pusher's envelope for an error: `{"status":false,"message"}`, with Ferry's code. */
const DATA_PUSHER_ERROR = {
  type: "object",
  required: ["status", "message", "code"],
  properties: { status: { type: "boolean", const: false }, message: { type: "string" }, code: { type: "string" }, field: { type: "string" } },
} as const;
const dataPusherErrors = { "4xx": { description: "Data Pusher's error envelope, with Ferry's code.", ...DATA_PUSHER_ERROR }, "5xx": { description: "Data Pusher's error envelope.", ...DATA_PUSHER_ERROR } } as const;

const DP_ACCOUNT = {
  type: "object",
  required: ["account_id", "account_name", "email", "website"],
  properties: {
    account_id: { type: "string" },
    account_name: { type: "string" },
    email: NULLABLE_STRING,
    website: NULLABLE_STRING,
    secret_token: { type: ["string", "null"], description: "Shown to the admin token (worked out from it, never stored)." },
    secret_token_message: { type: "string", description: "Why secret_token is null." },
  },
} as const;

const DP_DESTINATION = {
  type: "object",
  required: ["id", "account", "url", "http_method", "headers"],
  properties: {
    id: { type: "string" },
    account: { type: "string", description: "The account's id." },
    url: { type: "string" },
    http_method: { type: "string" },
    headers: { type: "object", additionalProperties: { type: "string" } },
  },
} as const;

const ok = (properties: Record<string, unknown> = {}, required: string[] = []) =>
  ({ type: "object", required: ["status", ...required], properties: { status: { type: "boolean", const: true }, message: { type: "string" }, ...properties } }) as const;

const TOKEN_FIELDS = {
  account_id: { type: "string" },
  secret_token: { type: "string", description: "The account's token, or the admin token (or send it as CL-X-TOKEN or Authorization: Bearer)." },
} as const;

/** fun-with-webhooks' errors: a list of `{errorCode, message}`, with Ferry's code. */
const WEBHOOKS_ERRORS = {
  type: "array",
  items: { type: "object", required: ["errorCode", "message", "code"], properties: { errorCode: { type: "string" }, message: { type: "string" }, code: { type: "string" } }, additionalProperties: true },
} as const;

/** The ADS service's errors: `{"error"}`, with Ferry's code. */
const ADS_ERROR = { type: "object", required: ["error", "code"], properties: { error: { type: "string" }, code: { type: "string" } } } as const;
const adsErrors = { "4xx": { description: "The ADS service's error shape, with Ferry's code.", ...ADS_ERROR }, "5xx": { description: "The ADS service's error shape.", ...ADS_ERROR } } as const;

const PUSHED = {
  postbacks: { type: "array", items: OPEN_OBJECT, description: "Ferry's postbacks, as /v1/push answers them." },
  duplicates: { type: "array", items: { type: "integer" } },
} as const;

export const COMPAT_SCHEMAS: Record<string, Record<string, unknown>> = {
  "POST /account/": {
    summary: "Data Pusher: create an account (admin)",
    body: { type: "object", properties: { account_name: { type: "string" }, email: { type: "string" }, website: { type: "string" } } },
    response: { 200: ok({ data: DP_ACCOUNT }, ["data"]), ...dataPusherErrors },
  },
  "GET /account/": {
    summary: "Data Pusher: an account (?account_id=), or a page of all (admin)",
    querystring: { type: "object", properties: { ...TOKEN_FIELDS, limit: { type: "integer" }, after: { type: "string" } } },
    response: {
      200: ok({ data: { oneOf: [DP_ACCOUNT, { type: "array", items: DP_ACCOUNT }] }, next_after: NULLABLE_STRING }, ["data"]),
      ...dataPusherErrors,
    },
  },
  "PATCH /account/": {
    summary: "Data Pusher: change an account",
    body: { type: "object", properties: { ...TOKEN_FIELDS, account_name: { type: "string" }, email: { type: "string" }, website: { type: "string" } } },
    response: { 200: ok(), ...dataPusherErrors },
  },
  "DELETE /account/": {
    summary: "Data Pusher: delete an account",
    body: { type: "object", properties: TOKEN_FIELDS },
    response: { 200: ok(), ...dataPusherErrors },
  },
  "POST /destination/": {
    summary: "Data Pusher: create a destination",
    body: { type: "object", properties: { ...TOKEN_FIELDS, url: { type: "string" }, http_method: { type: "string" }, headers: { type: "object", additionalProperties: { type: "string" } } } },
    response: { 200: ok({ data: DP_DESTINATION }, ["data"]), ...dataPusherErrors },
  },
  "GET /destination/": {
    summary: "Data Pusher: an account's destinations",
    querystring: { type: "object", properties: TOKEN_FIELDS },
    response: { 200: ok({ data: { type: "array", items: DP_DESTINATION } }, ["data"]), ...dataPusherErrors },
  },
  "PATCH /destination/": {
    summary: "Data Pusher: change a destination",
    body: { type: "object", properties: { destination_id: { type: "string" }, secret_token: TOKEN_FIELDS.secret_token, url: { type: "string" }, http_method: { type: "string" }, headers: { type: "object", additionalProperties: { type: "string" } } } },
    response: { 200: ok({ data: DP_DESTINATION }, ["data"]), ...dataPusherErrors },
  },
  "DELETE /destination/": {
    summary: "Data Pusher: delete a destination",
    body: { type: "object", properties: { destination_id: { type: "string" }, secret_token: TOKEN_FIELDS.secret_token } },
    response: { 200: ok(), ...dataPusherErrors },
  },
  "POST /server/incoming_data": {
    summary: "Data Pusher: push data to every destination of an account",
    description: '{"account_id","secret_token","data"}, or the data itself with the token in CL-X-TOKEN or Authorization.',
    body: { oneOf: [{ type: "object", properties: { ...TOKEN_FIELDS, data: {} } }, OPEN_OBJECT, { type: "array", items: OPEN_OBJECT }] },
    response: { 200: ok(PUSHED), ...dataPusherErrors },
  },
  "GET /server/incoming_data": {
    summary: "Data Pusher: push data given in the query",
    description: "?account_id=&secret_token=&data=<JSON object>; without data=, the other parameters are the object.",
    querystring: { type: "object", properties: { ...TOKEN_FIELDS, data: { type: "string", description: "A JSON object." } }, additionalProperties: { type: "string" } },
    response: { 200: ok(PUSHED), ...dataPusherErrors },
  },
  "POST /webhook": {
    summary: "fun-with-webhooks: register a client and its callback",
    body: { type: "object", required: ["name", "callbackURL"], properties: { name: { type: "string" }, callbackURL: { type: "string" } } },
    response: {
      200: { type: "null", description: "Registered (or enabled again)." },
      "4xx": { description: "fun-with-webhooks' error list, with Ferry's code.", ...WEBHOOKS_ERRORS },
      "5xx": { description: "fun-with-webhooks' error list.", ...WEBHOOKS_ERRORS },
    },
  },
  "POST /webhooks/account": {
    summary: "ADS: register a user (the registration token); answers its access token",
    body: { type: "object", required: ["user_id"], properties: { user_id: { type: "string" }, user_email: { type: "string" } } },
    response: { 200: { type: "string", description: "The user's access token, as a JSON string." }, ...adsErrors },
  },
  "POST /webhooks/subscribe": {
    summary: "ADS: subscribe a callback to an event (the user's access token)",
    body: { type: "object", required: ["event", "url"], properties: { event: { type: "string" }, url: { type: "string" } } },
    response: {
      200: { oneOf: [{ type: "integer", const: 200 }, { type: "object", properties: { warning: { type: "string" } } }], description: "200, or a warning when the subscription exists." },
      ...adsErrors,
    },
  },
  "POST /webhooks/trigger": {
    summary: "ADS: send an event to every subscriber (the trigger token)",
    body: { type: "object", required: ["event", "payload"], properties: { event: { type: "string" }, payload: {} } },
    response: { 200: { type: "integer", const: 200 }, ...adsErrors },
  },
};
