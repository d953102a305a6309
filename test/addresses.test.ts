/**
 * classifyAddress against the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890
 * and its updates), and against IPv6 forms that carry an IPv4 address. Pure: nothing here opens
 * a connection, and nothing may: these addresses route off this machine, or nowhere.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classifyAddress } from "../src/core/addresses.js";

/** A range: its class, its first and last address, and the addresses just outside it. */
type Range = { name: string; cls: string; first: string; last: string; before?: string | undefined; after?: string | undefined };

const RANGES: Range[] = [
  // IPv4
  { name: "0.0.0.0/8 (this network)", cls: "unspecified", first: "0.0.0.0", last: "0.255.255.255", after: "1.0.0.0" },
  { name: "10.0.0.0/8", cls: "private", first: "10.0.0.0", last: "10.255.255.255", before: "9.255.255.255", after: "11.0.0.0" },
  { name: "100.64.0.0/10 (CGNAT)", cls: "shared", first: "100.64.0.0", last: "100.127.255.255", before: "100.63.255.255", after: "100.128.0.0" },
  { name: "127.0.0.0/8", cls: "loopback", first: "127.0.0.0", last: "127.255.255.255", before: "126.255.255.255", after: "128.0.0.0" },
  { name: "169.254.0.0/16", cls: "link_local", first: "169.254.0.0", last: "169.254.255.255", before: "169.253.255.255", after: "169.255.0.0" },
  { name: "172.16.0.0/12", cls: "private", first: "172.16.0.0", last: "172.31.255.255", before: "172.15.255.255", after: "172.32.0.0" },
  { name: "192.0.0.0/24 (IETF protocol assignments)", cls: "reserved", first: "192.0.0.0", last: "192.0.0.255", before: "191.255.255.255", after: "192.0.1.0" },
  { name: "192.0.2.0/24 (TEST-NET-1)", cls: "reserved", first: "192.0.2.0", last: "192.0.2.255", before: "192.0.1.255", after: "192.0.3.0" },
  { name: "192.168.0.0/16", cls: "private", first: "192.168.0.0", last: "192.168.255.255", before: "192.167.255.255", after: "192.169.0.0" },
  { name: "198.18.0.0/15 (benchmarking)", cls: "reserved", first: "198.18.0.0", last: "198.19.255.255", before: "198.17.255.255", after: "198.20.0.0" },
  { name: "198.51.100.0/24 (TEST-NET-2)", cls: "reserved", first: "198.51.100.0", last: "198.51.100.255", before: "198.51.99.255", after: "198.51.101.0" },
  { name: "203.0.113.0/24 (TEST-NET-3)", cls: "reserved", first: "203.0.113.0", last: "203.0.113.255", before: "203.0.112.255", after: "203.0.114.0" },
  { name: "224.0.0.0/4 (multicast)", cls: "multicast", first: "224.0.0.0", last: "239.255.255.255", before: "223.255.255.255" },
  { name: "240.0.0.0/4 (reserved, and broadcast)", cls: "reserved", first: "240.0.0.0", last: "255.255.255.255" },
  // IPv6
  { name: ":: (unspecified)", cls: "unspecified", first: "::", last: "::" },
  { name: "::1 (loopback)", cls: "loopback", first: "::1", last: "::1" },
  { name: "100::/64 (discard)", cls: "reserved", first: "100::", last: "100::ffff:ffff:ffff:ffff", before: "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", after: "100:0:0:1::" },
  { name: "2001::/32 (Teredo, embeds an obscured IPv4)", cls: "reserved", first: "2001::", last: "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", before: "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", after: "2001:1::" },
  { name: "2001:2::/48 (benchmarking)", cls: "reserved", first: "2001:2::", last: "2001:2:0:ffff:ffff:ffff:ffff:ffff", before: "2001:1:ffff:ffff:ffff:ffff:ffff:ffff", after: "2001:2:1::" },
  { name: "2001:20::/28 (ORCHIDv2)", cls: "reserved", first: "2001:20::", last: "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", before: "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", after: "2001:30::" },
  { name: "2001:db8::/32 (documentation)", cls: "reserved", first: "2001:db8::", last: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", before: "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", after: "2001:db9::" },
  { name: "3fff::/20 (documentation)", cls: "reserved", first: "3fff::", last: "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", before: "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", after: "3fff:1000::" },
  { name: "5f00::/16 (SRv6 SIDs)", cls: "reserved", first: "5f00::", last: "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", before: "5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", after: "5f01::" },
  { name: "64:ff9b:1::/48 (local-use NAT64)", cls: "private", first: "64:ff9b:1::", last: "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", before: "64:ff9b:0:ffff:ffff:ffff:ffff:ffff", after: "64:ff9b:2::" },
  { name: "fc00::/7 (unique local)", cls: "private", first: "fc00::", last: "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", before: "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
  { name: "fe80::/10 (link-local)", cls: "link_local", first: "fe80::", last: "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", before: "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
  { name: "fec0::/10 (site-local, deprecated)", cls: "private", first: "fec0::", last: "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
  { name: "ff00::/8 (multicast)", cls: "multicast", first: "ff00::", last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
];

describe("classifyAddress: the special-purpose ranges, at their edges", () => {
  for (const r of RANGES) {
    test(r.name, () => {
      assert.equal(classifyAddress(r.first), r.cls, r.first);
      assert.equal(classifyAddress(r.last), r.cls, r.last);
      // Just outside: public, unless another range starts there (checked by that range's row).
      if (r.before !== undefined) assert.equal(classifyAddress(r.before), undefined, r.before);
      if (r.after !== undefined) assert.equal(classifyAddress(r.after), undefined, r.after);
    });
  }
});

/** IPv6 forms of an IPv4 address: the IPv4 address decides. */
const EMBEDDED: [string, string | undefined][] = [
  // IPv4-mapped ::ffff:0:0/96 (RFC 4291)
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["::ffff:a9fe:a9fe", "metadata"],
  ["::ffff:808:808", undefined],
  // IPv4-compatible ::/96 (deprecated by RFC 4291, still routed by some stacks as IPv4)
  ["::7f00:1", "loopback"],
  ["::127.0.0.1", "loopback"],
  ["::a00:1", "private"],
  ["::c0a8:101", "private"],
  ["::a9fe:a9fe", "metadata"],
  ["::808:808", undefined],
  // IPv4-translated ::ffff:0:0:0/96 (RFC 2765)
  ["::ffff:0:7f00:1", "loopback"],
  ["::ffff:0:808:808", undefined],
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the last 32 bits
  ["64:ff9b::7f00:1", "loopback"],
  ["64:ff9b::10.0.0.1", "private"],
  ["64:ff9b::a9fe:a9fe", "metadata"],
  ["64:ff9b::808:808", undefined],
  ["64:ff9b::1:0:808:808", undefined], // outside the /96: an ordinary global address
  // 6to4 2002::/16 (RFC 3056): bits 16-47
  ["2002:7f00:1::", "loopback"],
  ["2002:7f00:1::1", "loopback"],
  ["2002:a00:1:1::1", "private"],
  ["2002:c0a8:101::", "private"],
  ["2002:a9fe:a9fe::", "metadata"],
  ["2002::", "unspecified"],
  ["2002:808:808::1", undefined],
  ["2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", undefined], // just below 2002::/16
  ["2003::1", undefined], // just above
  // Any way an address is written: brackets, zeros in full, upper case
  ["[::7f00:1]", "loopback"],
  ["0:0:0:0:0:0:7f00:1", "loopback"],
  ["2002:7F00:0001::", "loopback"],
];

describe("classifyAddress: IPv6 forms of an IPv4 address", () => {
  for (const [address, expected] of EMBEDDED) {
    test(`${address} is ${expected ?? "public"}`, () => assert.equal(classifyAddress(address), expected));
  }
});

describe("classifyAddress: ordinary addresses and names", () => {
  for (const address of ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001::200e", "2001:4860:4860::8888", "example.com", ""]) {
    test(`${JSON.stringify(address)} is public (or not an address)`, () => assert.equal(classifyAddress(address), undefined));
  }
});
