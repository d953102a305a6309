/**
 * The shared schemas, each registered once by its $id (src/api/openapi.ts) and referenced by the
 * routes as `{ $ref: "<Name>#" }`: each is a named component of the OpenAPI document, so a client
 * generated from it has a type per resource (Account, Destination, Event, …).
 */
import { PROBLEM_SCHEMA } from "./common.js";
import { ACCOUNT, TOKEN } from "./accounts.js";
import { DESTINATION, DESTINATION_WITH_SECRET } from "./destinations.js";
import { EVENT, EVENT_IN, SESSION } from "./events.js";
import { EVENT_TYPE } from "./event-types.js";
import { ATTEMPT, LOG_ITEM, POSTBACK } from "./postbacks.js";

export const SHARED_SCHEMAS = [PROBLEM_SCHEMA, ACCOUNT, TOKEN, DESTINATION, DESTINATION_WITH_SECRET, EVENT, EVENT_IN, SESSION, EVENT_TYPE, POSTBACK, ATTEMPT, LOG_ITEM] as const;
