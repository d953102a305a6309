/**
 * Trusted networks (FERRY_TRUSTED_NETWORKS): seeds 000 and 001 send with no credentials ("the
 * applications are trusted clients"). A request with no token, from one of those addresses, to
 * one of the routes that *send* data (SENDING_ROUTES), acts for FERRY_TRUSTED_ACCOUNT, or as the
 * admin when that is unset. Nothing else changes: a request that carries a token is judged by
 * the token alone, and every other route still needs one.
 *
 * The source address is `request.ip`: the socket's peer, or, only when that peer is one of
 * FERRY_TRUSTED_PROXIES, the nearest address in X-Forwarded-For that is not a trusted proxy
 * (fastify's trustProxy; see buildApp). With no trusted proxies, X-Forwarded-For is never read.
 */
import type { BlockList } from "node:net";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import { inNetworks } from "../core/addresses.js";
import type { Stores } from "../store/port.js";
import type { Account } from "../core/types.js";
import type { Caller } from "./auth.js";

/** The routes a trusted network may use without a token: the ways data comes in, nothing that reads or manages. */
const SENDING_ROUTES = new Set(["POST /ingest", "POST /ingest.php", "POST /v1/events"]);

/** How long the trusted account, once found, is believed before the store is asked again (as for tokens). */
const ACCOUNT_CHECK_MS = 1_000;
/** While the trusted account is missing, its 503 is logged once per this long, not once per request. */
const MISSING_LOG_MS = 60_000;

/** Who may send without a token, and as whom. */
export class TrustedNetworks {
  /** The trusted account as last found, and when. */
  private found: { accountId: string; at: number } | undefined;
  /** When the trusted account being missing was last logged. */
  private missedLoggedAt = -Infinity;

  /**
   * `networks`: FERRY_TRUSTED_NETWORKS parsed. `account`: FERRY_TRUSTED_ACCOUNT, the account such
   * requests act for, by id (acct_...) or external_id; undefined: the admin.
   */
  constructor(
    private readonly networks: BlockList,
    readonly account: string | undefined,
    private readonly stores: Stores,
  ) {}

  /**
   * Whether the request may go without a token: it carries none (not even a malformed one, which
   * must still get its 401), it is to a sending route, and it comes from a trusted address.
   */
  admits(request: FastifyRequest): boolean {
    if (request.headers.authorization !== undefined || request.headers["cl-x-token"] !== undefined) return false;
    if (!SENDING_ROUTES.has(`${request.method} ${request.routeOptions.url}`)) return false;
    return inNetworks(this.networks, request.ip);
  }

  /**
   * Who an admitted request acts as. The account is looked up here, at request time, not at
   * start-up: accounts are made through the running API, so FERRY_TRUSTED_ACCOUNT may name one
   * that does not exist yet when Ferry first starts (by an external_id chosen beforehand), or one
   * deleted since. Until it exists, such requests get 503 trusted_account_missing, naming the
   * setting, rather than postbacks no account owns.
   */
  async caller(now = Date.now()): Promise<Caller> {
    if (this.account === undefined) return { kind: "admin" };
    if (!this.found || now - this.found.at >= ACCOUNT_CHECK_MS) {
      // While it is missing the store is asked at every request (an account made a moment ago
      // is found at once), but a busy trusted client must not flood the log: once a minute.
      const accountId = await this.lookUp(this.account);
      if (accountId === undefined) throw this.missingError(this.account, now);
      this.missedLoggedAt = -Infinity;
      this.found = { accountId, at: now };
    }
    return { kind: "account", accountId: this.found.accountId, tokenId: null };
  }

  /** undefined when no such account exists. */
  private async lookUp(account: string): Promise<string | undefined> {
    const accounts = this.stores.accounts;
    // config.ts refuses an acct_ value that is not a whole id, so the prefix tells the two apart.
    const byId = account.startsWith("acct_");
    let found: Account | undefined;
    try {
      found = byId ? await accounts.getAccount(account) : await accounts.findAccountByExternalId(account);
    } catch (err) {
      throw new ApiError("store_unavailable", "The trusted account cannot be looked up now: the store is unreachable. Send the request again shortly.", {
        headers: { "retry-after": "5" },
        cause: err,
      });
    }
    return found?.id;
  }

  private missingError(account: string, now: number): ApiError {
    const quiet = now - this.missedLoggedAt < MISSING_LOG_MS;
    if (!quiet) this.missedLoggedAt = now;
    const what = account.startsWith("acct_") ? account : `the account with external_id ${JSON.stringify(account)}`;
    return new ApiError(
      "trusted_account_missing",
      `FERRY_TRUSTED_ACCOUNT names ${what}, which does not exist (not made yet, or deleted), so a request without a token from a trusted network cannot be taken. ` +
        "The operator must create it (POST /v1/accounts), or change or unset FERRY_TRUSTED_ACCOUNT (unset: such requests act as the admin); a client can send a token meanwhile.",
      { quiet },
    );
  }
}
