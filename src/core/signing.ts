/**
 * Signed deliveries, as the Standard Webhooks specification has them
 * (https://www.standardwebhooks.com): each delivery carries `webhook-id` (the postback id,
 * stable across retries so receivers can drop duplicates), `webhook-timestamp` (seconds) and
 * `webhook-signature`: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the
 * destination's secret. test/signing.test.ts checks the result with the specification's own
 * implementation (the standardwebhooks package).
 */
import { createHmac, randomBytes } from "node:crypto";

const PREFIX = "whsec_";

/** A new signing secret: `whsec_` + base64 of 24 random bytes (192 bits, as Svix issues them). */
export function newSigningSecret(): string {
  return PREFIX + randomBytes(24).toString("base64");
}

/** True for a secret this module can sign with: `whsec_` + base64 of 24 to 64 bytes. */
export function isSigningSecret(value: unknown): value is string {
  if (typeof value !== "string" || !value.startsWith(PREFIX)) return false;
  const b64 = value.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
  const bytes = Buffer.from(b64, "base64").length;
  return bytes >= 24 && bytes <= 64;
}

/** The key a secret stands for. Decoded once per secret by the caller that signs many. */
export function signingKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64");
}

/** The headers that sign one attempt; `body` is the exact bytes sent ("" without a body). */
export function signatureHeaders(
  key: Buffer,
  postbackId: string,
  body: string,
  now: number = Date.now(),
): { "webhook-id": string; "webhook-timestamp": string; "webhook-signature": string } {
  const timestamp = Math.floor(now / 1000).toString();
  const signature = createHmac("sha256", key).update(`${postbackId}.${timestamp}.${body}`).digest("base64");
  return { "webhook-id": postbackId, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` };
}
