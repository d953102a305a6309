/**
 * The ADS webhook service (seed 004) on SQLite: its routes, Ferry's broadcast, and the seed
 * README's own curl requests replayed against a real `ferry start` (docs/seeds.md).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { adsSuite } from "./e2e/ads.js";
import { pythonJson, triggerMd5 } from "../src/compat/ads-event.js";

adsSuite("SQLite", () => ({}));

// Written by Python's json.dumps(value, sort_keys=True) (python3; 2.7 writes the same), and its md5.
const PYTHON: [unknown, string, string][] = [
  [
    { event: "relation_added", payload: { b: 1, a: [1, 2.5, "x"], c: null, d: true } },
    '{"event": "relation_added", "payload": {"a": [1, 2.5, "x"], "b": 1, "c": null, "d": true}}',
    "d9002a61fc3e490ae856f7f1b68ff9c9",
  ],
  [
    { payload: { name: "Zoë ☃ 😀", t: 'tab\there\n"q"\\', ctl: "\u0001\u007f" }, event: "relation_added" },
    '{"event": "relation_added", "payload": {"ctl": "\\u0001\\u007f", "name": "Zo\\u00eb \\u2603 \\ud83d\\ude00", "t": "tab\\there\\n\\"q\\"\\\\"}}',
    "117c1607b720e2dd3e9acebb983b6eb2",
  ],
  [
    { event: "e", payload: [0.0001, 0.00001, 1.5e-7, 123.456, -0.5, 1e-4, 1234567890123456, 3.14159, 1e300, -2.5e-300] },
    '{"event": "e", "payload": [0.0001, 1e-05, 1.5e-07, 123.456, -0.5, 0.0001, 1234567890123456, 3.14159, 1e+300, -2.5e-300]}',
    "2ea673a5fa1c49dd9d76710db94a90fe",
  ],
  [
    { event: "e", payload: { "\u00e9": 1, z: 2, A: 3, "\u{1F600}": 4, "\uff5e": 5 } },
    '{"event": "e", "payload": {"A": 3, "z": 2, "\\u00e9": 1, "\\uff5e": 5, "\\ud83d\\ude00": 4}}',
    "9c98afada034fe5d4b7d787e528e2159",
  ],
  [{ event: "e", payload: {} }, '{"event": "e", "payload": {}}', "e19bc2713595fa656c4579fc50a2240f"],
  [{ event: "e", payload: [] }, '{"event": "e", "payload": []}', "70a4860b182880c36c633bbf3dadc5ef"],
];

test("a trigger's md5 is the ADS service's own: Python's json.dumps(sort_keys=True), byte for byte", () => {
  for (const [value, text, md5] of PYTHON) {
    assert.equal(pythonJson(value), text);
    assert.equal(triggerMd5(value), md5);
  }
});
