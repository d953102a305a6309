/** @ferry/client: a typed client for Ferry's HTTP API. */
export { Ferry, Accounts, Tokens, Destinations, Postbacks, Events, Sessions, EventTypes, StatsApi } from "./client.js";
export type { FerryOptions, IdempotencyOptions, PushOptions, SendEventsOptions } from "./client.js";
export { EventSender, EventSenderClosedError, retryable } from "./sender.js";
export type { EventSenderOptions, EventSenderStats, Rejection } from "./sender.js";
export { FerryError, FerryNetworkError, parseRetryAfter } from "./errors.js";
export type { Problem } from "./errors.js";
export type * from "./types.js";
export type { paths, components } from "./openapi.js";
