import { test } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { isSigningSecret, newSigningSecret, signatureHeaders, signingKey } from "../src/core/signing.js";

test("signatures verify with the Standard Webhooks reference implementation", () => {
  const secret = newSigningSecret();
  const body = JSON.stringify({ mascot: "Gopher", note: "ünïcode ✓" });
  const headers = signatureHeaders(signingKey(secret), "pb_01JD3Q8Y2M5V7W9X0Z1A2B3C4D", body);
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
});

test("a signature made with another secret, or over another body, does not verify", () => {
  const body = '{"a":1}';
  const headers = signatureHeaders(signingKey(newSigningSecret()), "pb_x", body);
  assert.throws(() => new Webhook(newSigningSecret()).verify(body, headers), /No matching signature/);
  const own = newSigningSecret();
  const signed = signatureHeaders(signingKey(own), "pb_x", body);
  assert.throws(() => new Webhook(own).verify('{"a":2}', signed), /No matching signature/);
});

test("the signature matches the specification's example", () => {
  // From the Standard Webhooks specification's test vectors.
  const key = signingKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  const headers = signatureHeaders(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', 1614265330 * 1000);
  assert.equal(headers["webhook-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  assert.equal(headers["webhook-timestamp"], "1614265330");
});

test("secrets are whsec_ and base64 of at least 24 bytes", () => {
  assert.ok(isSigningSecret(newSigningSecret()));
  assert.notEqual(newSigningSecret(), newSigningSecret());
  assert.ok(!isSigningSecret("whsec_short"));
  assert.ok(!isSigningSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqr"));
  assert.ok(!isSigningSecret(42));
});
