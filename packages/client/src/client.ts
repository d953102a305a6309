/**
 * `new Ferry({ url, token })`: every route of Ferry's API as a method, grouped by what it acts
 * on. Field names are Ferry's own (snake_case, as in the README); options that only the client
 * reads (accountId, idempotencyKey) are camelCase.
 */
import { Transport, type TransportOptions } from "./http.js";
import { EventSender, type EventSenderOptions } from "./sender.js";
import type {
  Account,
  AccountFields,
  AccountListQuery,
  BroadcastResult,
  DataObject,
  Destination,
  DestinationFields,
  DestinationListQuery,
  DestinationStats,
  DestinationStatsQuery,
  DestinationWithSecret,
  Event,
  EventFilters,
  EventInput,
  EventType,
  EventTypeFields,
  EventTypeListQuery,
  NewAccount,
  NewDestination,
  IngestRequest,
  IngestResult,
  NewToken,
  Page,
  Postback,
  PostbackSearch,
  PostbackSummary,
  PushResult,
  ReplayRequest,
  ReplayResult,
  SendEventsResult,
  Session,
  SessionQuery,
  Stats,
  StatsQuery,
  Token,
  TokenFields,
} from "./types.js";

export type FerryOptions = TransportOptions;

export interface IdempotencyOptions {
  /** Sent as `Idempotency-Key`: a repeat within 24 h gets the first answer and queues nothing. */
  idempotencyKey?: string;
}

export interface PushOptions extends IdempotencyOptions {
  /** The admin names the account; an account token pushes to its own. */
  accountId?: string;
}

export interface SendEventsOptions extends IdempotencyOptions {
  /** The admin names the account; an account token sends to its own. */
  accountId?: string;
  /** All or none: one invalid event stores nothing. */
  atomic?: boolean;
}

const idem = (o: IdempotencyOptions | undefined) => ({ "idempotency-key": o?.idempotencyKey });

export class Ferry {
  readonly #http: Transport;
  readonly accounts: Accounts;
  readonly tokens: Tokens;
  readonly destinations: Destinations;
  readonly postbacks: Postbacks;
  readonly events: Events;
  readonly sessions: Sessions;
  readonly eventTypes: EventTypes;
  readonly stats: StatsApi;

  constructor(options: FerryOptions) {
    this.#http = new Transport(options);
    this.accounts = new Accounts(this.#http);
    this.tokens = new Tokens(this.#http);
    this.destinations = new Destinations(this.#http);
    this.postbacks = new Postbacks(this.#http);
    this.events = new Events(this.#http);
    this.sessions = new Sessions(this.#http);
    this.eventTypes = new EventTypes(this.#http);
    this.stats = new StatsApi(this.#http);
  }

  /** POST /ingest: one postback per data object to the endpoint, in order. */
  async ingest(request: IngestRequest, options?: IdempotencyOptions): Promise<IngestResult> {
    return (await this.#http.send<IngestResult>("post", "/ingest", { body: request, headers: idem(options) })).data;
  }

  /** POST /v1/push?type=: one postback per (object, destination) whose event_types take `type`. */
  async push(type: string | undefined, objects: DataObject | DataObject[], options?: PushOptions): Promise<PushResult> {
    const query = { type, account_id: options?.accountId };
    return (await this.#http.send<PushResult>("post", "/v1/push", { query, body: objects, headers: idem(options) })).data;
  }

  /** POST /v1/broadcast?type=: a provider's event to every destination, of any account, whose event_types name it (admin or provider token). */
  async broadcast(type: string, objects: DataObject | DataObject[], options?: IdempotencyOptions): Promise<BroadcastResult> {
    return (await this.#http.send<BroadcastResult>("post", "/v1/broadcast", { query: { type }, body: objects, headers: idem(options) })).data;
  }

  /** A buffered sender of events: batches, retries, bounded memory. Close it when done. */
  eventSender(options: EventSenderOptions = {}): EventSender {
    return new EventSender(this.events, options);
  }
}

export class Accounts {
  constructor(readonly http: Transport) {}
  /** Admin only: 201 with the new account. */
  async create(fields: NewAccount): Promise<Account> {
    return (await this.http.send<Account>("post", "/v1/accounts", { body: fields })).data;
  }
  async get(id: string): Promise<Account> {
    return (await this.http.send<Account>("get", "/v1/accounts/{id}", { path: { id } })).data;
  }
  /** One page; pass `after: page.next_after` for the next. */
  async list(query: AccountListQuery = {}): Promise<Page<Account>> {
    return (await this.http.send<Page<Account>>("get", "/v1/accounts", { query: { ...query } })).data;
  }
  async update(id: string, fields: AccountFields): Promise<Account> {
    return (await this.http.send<Account>("patch", "/v1/accounts/{id}", { path: { id }, body: fields })).data;
  }
  /** Deletes it with its tokens and destinations; their queued postbacks are cancelled. */
  async delete(id: string): Promise<void> {
    await this.http.send("delete", "/v1/accounts/{id}", { path: { id } });
  }
}

export class Tokens {
  constructor(readonly http: Transport) {}
  /** A new token for the account: its secret (`token`) is shown this once. */
  async create(accountId: string, fields: TokenFields = {}): Promise<NewToken> {
    return (await this.http.send<NewToken>("post", "/v1/accounts/{id}/tokens", { path: { id: accountId }, body: fields })).data;
  }
  async list(accountId: string): Promise<Token[]> {
    return (await this.http.send<{ data: Token[] }>("get", "/v1/accounts/{id}/tokens", { path: { id: accountId } })).data.data;
  }
  /** From then on the token is refused with 401 token_revoked. */
  async revoke(accountId: string, tokenId: string): Promise<void> {
    await this.http.send("delete", "/v1/accounts/{id}/tokens/{token_id}", { path: { id: accountId, token_id: tokenId } });
  }
}

export class Destinations {
  constructor(readonly http: Transport) {}
  /** 201 with its secret; the same method and URL again re-registers it (200). */
  async create(fields: NewDestination): Promise<DestinationWithSecret> {
    return (await this.http.send<DestinationWithSecret>("post", "/v1/destinations", { body: fields })).data;
  }
  async get(id: string): Promise<Destination> {
    return (await this.http.send<Destination>("get", "/v1/destinations/{id}", { path: { id } })).data;
  }
  /** One page, no secrets; the admin names the account with `account_id`. */
  async list(query: DestinationListQuery = {}): Promise<Page<Destination>> {
    return (await this.http.send<Page<Destination>>("get", "/v1/destinations", { query: { ...query } })).data;
  }
  /** `{ enabled: true }` re-enables a disabled one and releases its held postbacks. */
  async update(id: string, fields: DestinationFields): Promise<Destination> {
    return (await this.http.send<Destination>("patch", "/v1/destinations/{id}", { path: { id }, body: fields })).data;
  }
  async delete(id: string): Promise<void> {
    await this.http.send("delete", "/v1/destinations/{id}", { path: { id } });
  }
  async secret(id: string): Promise<string> {
    return (await this.http.send<{ secret: string }>("get", "/v1/destinations/{id}/secret", { path: { id } })).data.secret;
  }
  /** A new signing secret: the destination with it. */
  async rotateSecret(id: string): Promise<DestinationWithSecret> {
    return (await this.http.send<DestinationWithSecret>("post", "/v1/destinations/{id}/rotate-secret", { path: { id } })).data;
  }
  /** Resend: every failed or dead postback of the destination created in the range goes out again. */
  async replay(id: string, range: ReplayRequest): Promise<ReplayResult> {
    return (await this.http.send<ReplayResult>("post", "/v1/destinations/{id}/replay", { path: { id }, body: range })).data;
  }
}

export class Postbacks {
  constructor(readonly http: Transport) {}
  /** Its state, endpoint, data and every attempt. */
  async get(id: string): Promise<Postback> {
    return (await this.http.send<Postback>("get", "/v1/postbacks/{id}", { path: { id } })).data;
  }
  /** The delivery log, newest first: one page; pass `after: page.next_after` for the next. */
  async search(filters: PostbackSearch = {}): Promise<Page<PostbackSummary>> {
    return (await this.http.send<Page<PostbackSummary>>("get", "/v1/postbacks", { query: { ...filters } })).data;
  }
  /** Sends a dead postback again, or makes a failed one due now (202). */
  async retry(id: string): Promise<void> {
    await this.http.send("post", "/v1/postbacks/{id}/retry", { path: { id } });
  }
}

export class Events {
  constructor(readonly http: Transport) {}
  /**
   * POST /v1/events: each event answered in order. Resolves on 201 and 202 (read each
   * outcome); 422 invalid_events (none stored) rejects with a FerryError whose
   * `problem.events` holds the same per-event list.
   */
  async send(events: EventInput | EventInput[], options?: SendEventsOptions): Promise<SendEventsResult> {
    const query = { account_id: options?.accountId, atomic: options?.atomic };
    const answer = await this.http.send<{ events: SendEventsResult["events"] }>("post", "/v1/events", { query, body: events, headers: idem(options) });
    return { status: answer.status as 201 | 202, events: answer.data.events };
  }
  /** One page of events, ordered by timestamp then arrival. */
  async query(filters: EventFilters = {}): Promise<Page<Event>> {
    return (await this.http.send<Page<Event>>("get", "/v1/events", { query: { ...filters } })).data;
  }
  /** Every event matching `filters`, a page fetched each time the last one is used up. */
  async *queryAll(filters: EventFilters = {}): AsyncGenerator<Event, void, undefined> {
    let after = filters.after;
    for (;;) {
      const page = await this.query({ ...filters, ...(after === undefined ? {} : { after }) });
      yield* page.data;
      if (page.next_after === null) return;
      after = page.next_after;
    }
  }
  async get(id: string, options: { accountId?: string } = {}): Promise<Event> {
    return (await this.http.send<Event>("get", "/v1/events/{id}", { path: { id }, query: { account_id: options.accountId } })).data;
  }
}

export class Sessions {
  constructor(readonly http: Transport) {}
  /** The session's events in time order (one page), with its count and first and last times. */
  async get(id: string, query: SessionQuery = {}): Promise<Session> {
    return (await this.http.send<Session>("get", "/v1/sessions/{id}", { path: { id }, query: { ...query } })).data;
  }
}

export class EventTypes {
  constructor(readonly http: Transport) {}
  /** Registers or replaces the category's schema: version 1, or the next. */
  async put(category: string, fields: EventTypeFields, options: { accountId?: string } = {}): Promise<EventType> {
    return (await this.http.send<EventType>("put", "/v1/event-types/{category}", { path: { category }, body: fields, query: { account_id: options.accountId } })).data;
  }
  async get(category: string, options: { accountId?: string } = {}): Promise<EventType> {
    return (await this.http.send<EventType>("get", "/v1/event-types/{category}", { path: { category }, query: { account_id: options.accountId } })).data;
  }
  async list(query: EventTypeListQuery = {}): Promise<Page<EventType>> {
    return (await this.http.send<Page<EventType>>("get", "/v1/event-types", { query: { ...query } })).data;
  }
  async delete(category: string, options: { accountId?: string } = {}): Promise<void> {
    await this.http.send("delete", "/v1/event-types/{category}", { path: { category }, query: { account_id: options.accountId } });
  }
}

/** Named StatsApi, not Stats: Stats is the shape it answers with. */
export class StatsApi {
  constructor(readonly http: Transport) {}
  /** Every destination summed (the account's, or all for the admin), with the queue. */
  async all(query: StatsQuery = {}): Promise<Stats> {
    return (await this.http.send<Stats>("get", "/v1/stats", { query: { ...query } })).data;
  }
  /** One destination: counts, latency, enabled, last error, queue depth. */
  async destination(id: string, query: DestinationStatsQuery = {}): Promise<DestinationStats> {
    return (await this.http.send<DestinationStats>("get", "/v1/destinations/{id}/stats", { path: { id }, query: { ...query } })).data;
  }
}
