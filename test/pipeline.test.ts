import { test } from "node:test";
import assert from "node:assert/strict";
import { startPipeline } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";

const SEED_BODY = {
  endpoint: {
    method: "GET",
    url: "http://sample_domain_endpoint.com/data?title={mascot}&image={location}&foo={bar}",
  },
  data: [{ mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" }],
};
const SEED_POSTBACK =
  "http://sample_domain_endpoint.com/data?title=Gopher&image=https%3A%2F%2Fblog.golang.org%2Fgopher%2Fgopher.png&foo=";

test("the seed's sample request produces exactly the seed's sample postback", async () => {
  // The receiver acts as Ferry's HTTP proxy, so it sees the full URL as Ferry rendered it.
  const receiver = await startReceiver();
  const p = await startPipeline({ proxy_url: receiver.url });
  try {
    const res = await p.app.inject({
      method: "POST",
      url: "/ingest.php",
      headers: { authorization: `Bearer ${p.config.admin_token}` },
      payload: JSON.stringify(SEED_BODY),
    });
    assert.equal(res.statusCode, 202);
    assert.equal(res.json().ids.length, 1);
    await receiver.waitFor(1);
    const got = receiver.requests[0]!;
    assert.equal(got.method, "GET");
    assert.equal(got.url, SEED_POSTBACK);
    assert.equal(got.headers["webhook-id"], res.json().ids[0]);
  } finally {
    await p.stop();
    await receiver.close();
  }
});
