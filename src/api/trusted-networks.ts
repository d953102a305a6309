/**
 * Trusted networks (FERRY_TRUSTED_NETWORKS): seeds 000 and 001 send with no credentials ("the
 * applications are trusted clients"). A request with no token, from one of those addresses, to
 * one of the routes that *send* data (SENDING_ROUTES), acts for FERRY_TRUSTED_ACCOUNT, or for the
 * admin when that is unset. Nothing else changes: a request that carries a token is judged by
 * the token alone, and every other route still needs one.
 *
 * The source address is `request.ip`: the socket's peer, or, only when that peer is one of
 * FERRY_TRUSTED_PROXIES, the nearest address in X-Forwarded-For that is not a trusted proxy
 * (fastify's trustProxy; see buildApp). With no trusted proxies, X-Forwarded-For is never read.
 */
import { isIP, type BlockList } from "node:net";
import type { FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import type { Stores } from "../store/port.js";
import type { Caller } from "./auth.js";

/** The routes a trusted network may use without a token: the ways data comes in, nothing that reads or manages. */
const SENDING_ROUTES = new Set(["POST /ingest", "POST /ingest.php", "POST /v1/events"]);

/** How long "the trusted account exists" is believed before the store is asked again (as for tokens). */
const ACCOUNT_CHECK_MS = 1_000;

/** Who may send without a token, and as whom. */
export class TrustedNetworks {
  /** When the trusted account was last found to exist. */
  private accountSeenAt = -Infinity;

  /**
   * `networks`: FERRY_TRUSTED_NETWORKS parsed. `accountId`: FERRY_TRUSTED_ACCOUNT, the account
   * such requests act for; undefined: the admin.
   */
  constructor(
    private readonly networks: BlockList,
    readonly accountId: string | undefined,
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
   * Who an admitted request acts as. The account is checked here, at request time, not at
   * start-up: accounts are made through the running API, so FERRY_TRUSTED_ACCOUNT may name one
   * that does not exist yet when Ferry first starts (or one deleted since). Until it exists, such
   * requests get 503 trusted_account_missing, naming the setting, rather than postbacks no
   * account owns.
   */
  async caller(now = Date.now()): Promise<Caller> {
    const accountId = this.accountId;
    if (accountId === undefined) return { kind: "admin" };
    if (now - this.accountSeenAt >= ACCOUNT_CHECK_MS) {
      let found: boolean;
      try {
        found = (await this.stores.accounts.getAccount(accountId)) !== undefined;
      } catch (err) {
        throw new ApiError("store_unavailable", "The trusted account cannot be checked now: the store is unreachable. Send the request again shortly.", {
          headers: { "retry-after": "5" },
          cause: err,
        });
      }
      if (!found) {
        throw new ApiError(
          "trusted_account_missing",
          `FERRY_TRUSTED_ACCOUNT names ${accountId}, which is not an account (not made yet, or deleted), so a request without a token from a trusted network cannot be taken. ` +
            "The operator must create the account (POST /v1/accounts) and set its id, or unset FERRY_TRUSTED_ACCOUNT to send as the admin; a client can send a token meanwhile.",
        );
      }
      this.accountSeenAt = now;
    }
    return { kind: "account", accountId, tokenId: null };
  }
}

/** Whether an address (IPv4, IPv6, or IPv4-mapped IPv6 such as ::ffff:127.0.0.1) is in the list. */
export function inNetworks(networks: BlockList, address: string | undefined): boolean {
  const version = address === undefined ? 0 : isIP(address);
  // X-Forwarded-For from a trusted proxy may hold anything; what is not an address is not trusted.
  if (version === 0) return false;
  return networks.check(address!, version === 4 ? "ipv4" : "ipv6");
}
