/**
 * Which IP addresses a postback must not be sent to unless the operator allows it: loopback,
 * private, link-local, cloud metadata and other non-public ranges. Checked on the address a
 * connection actually goes to (after DNS), so a name that resolves inward, or is made to
 * (DNS rebinding), is refused all the same.
 */
import { BlockList, isIP } from "node:net";

export type AddressClass = "loopback" | "private" | "link_local" | "metadata" | "unspecified" | "shared" | "multicast" | "reserved";

/** Most specific first: a metadata address is link-local too, and is reported as metadata. */
const RANGES: [AddressClass, string, number, "ipv4" | "ipv6"][] = [
  ["metadata", "169.254.169.254", 32, "ipv4"], // AWS, GCP, Azure, OpenStack
  ["metadata", "100.100.100.200", 32, "ipv4"], // Alibaba Cloud
  ["metadata", "fd00:ec2::254", 128, "ipv6"], // AWS over IPv6
  ["unspecified", "0.0.0.0", 8, "ipv4"],
  ["private", "10.0.0.0", 8, "ipv4"],
  ["shared", "100.64.0.0", 10, "ipv4"], // carrier-grade NAT
  ["loopback", "127.0.0.0", 8, "ipv4"],
  ["link_local", "169.254.0.0", 16, "ipv4"],
  ["private", "172.16.0.0", 12, "ipv4"],
  ["reserved", "192.0.0.0", 24, "ipv4"],
  ["reserved", "192.0.2.0", 24, "ipv4"], // documentation
  ["private", "192.168.0.0", 16, "ipv4"],
  ["reserved", "198.18.0.0", 15, "ipv4"], // benchmarking
  ["reserved", "198.51.100.0", 24, "ipv4"],
  ["reserved", "203.0.113.0", 24, "ipv4"],
  ["multicast", "224.0.0.0", 4, "ipv4"],
  ["reserved", "240.0.0.0", 4, "ipv4"], // and 255.255.255.255
  ["unspecified", "::", 128, "ipv6"],
  ["loopback", "::1", 128, "ipv6"],
  ["private", "fc00::", 7, "ipv6"],
  ["link_local", "fe80::", 10, "ipv6"],
  ["private", "fec0::", 10, "ipv6"], // site-local: deprecated (RFC 3879), still routed inward by some networks
  ["multicast", "ff00::", 8, "ipv6"],
  // The rest per the IANA IPv6 Special-Purpose Address Registry: none is a partner's address.
  ["reserved", "100::", 64, "ipv6"], // discard (RFC 6666)
  ["private", "64:ff9b:1::", 48, "ipv6"], // local-use NAT64 (RFC 8215): translates to whatever the site chose
  // Teredo (RFC 4380) carries the client's IPv4 address XOR'd, and the server's in the clear:
  // too many ways to reach inward to judge; no partner is served over it.
  ["reserved", "2001::", 32, "ipv6"],
  ["reserved", "2001:2::", 48, "ipv6"], // benchmarking (RFC 5180)
  ["reserved", "2001:20::", 28, "ipv6"], // ORCHIDv2 (RFC 7343): identifiers, not locators
  ["reserved", "2001:db8::", 32, "ipv6"], // documentation (RFC 3849)
  ["reserved", "3fff::", 20, "ipv6"], // documentation (RFC 9637)
  ["reserved", "5f00::", 16, "ipv6"], // SRv6 segment identifiers (RFC 9602)
];

const LISTS = RANGES.map(([cls, net, prefix, family]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, family);
  return [cls, list, family] as const;
});

/** The class of a non-public address, or undefined for a public one (or not an address). */
export function classifyAddress(address: string): AddressClass | undefined {
  let ip = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  // An IPv6 address that carries an IPv4 address is delivered to that IPv4 address (by the
  // host's own stack, a NAT64 gateway or a 6to4 relay): judge that.
  if (isIP(ip) === 6) ip = embeddedIPv4(ip) ?? ip;
  const version = isIP(ip);
  if (version === 0) return undefined;
  const family = version === 4 ? "ipv4" : "ipv6";
  for (const [cls, list, f] of LISTS) if (f === family && list.check(ip, family)) return cls;
  return undefined;
}

/**
 * The IPv4 address an IPv6 address carries, where it carries one in the clear:
 * - IPv4-mapped ::ffff:0:0/96 (RFC 4291), as URLs write ::ffff:127.0.0.1 (::ffff:7f00:1);
 * - IPv4-translated ::ffff:0:0:0/96 (RFC 2765);
 * - IPv4-compatible ::/96 (RFC 4291 deprecates it; stacks that take it send to the IPv4
 *   address), all but :: and ::1, which are IPv6's own unspecified and loopback;
 * - NAT64's well-known prefix 64:ff9b::/96 (RFC 6052), the last 32 bits;
 * - 6to4 2002::/16 (RFC 3056), bits 16 to 47.
 */
function embeddedIPv4(ip: string): string | undefined {
  const g = expandIPv6(ip);
  if (!g || g.some((n) => !Number.isInteger(n) || n < 0 || n > 0xffff)) return undefined;
  const zero = (from: number, to: number) => g.slice(from, to).every((n) => n === 0);
  const quad = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  const mapped = zero(0, 5) && g[5] === 0xffff;
  const translated = zero(0, 4) && g[4] === 0xffff && g[5] === 0;
  const compatible = zero(0, 6) && !(g[6] === 0 && (g[7] === 0 || g[7] === 1));
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6);
  if (mapped || translated || compatible || nat64) return quad(g[6]!, g[7]!);
  if (g[0] === 0x2002) return quad(g[1]!, g[2]!);
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address ("::" expanded, a trailing dotted quad read). */
function expandIPv6(ip: string): number[] | undefined {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, quad.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return undefined;
  return [...left, ...Array<string>(tail === undefined ? 0 : missing).fill("0"), ...right].map((g) => parseInt(g, 16));
}

/** Destinations allowed although private: host names as written in URLs, IPs and CIDR ranges. */
export interface Allowlist {
  hosts: ReadonlySet<string>;
  nets: BlockList;
}

/** Parses "receiver.internal, 10.1.2.3, 192.168.0.0/16"; throws naming the entry at fault. */
export function parseAllowlist(text: string): Allowlist {
  const hosts = new Set<string>();
  const nets = new BlockList();
  for (const raw of text.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const [ip, prefix, extra] = entry.split("/");
    const version = isIP(ip!);
    if (version !== 0) {
      const bits = prefix === undefined ? (version === 4 ? 32 : 128) : Number(prefix);
      if (extra !== undefined || !Number.isInteger(bits) || bits < 0 || bits > (version === 4 ? 32 : 128)) {
        throw new Error(`"${raw.trim()}" is not an IP address or CIDR range`);
      }
      nets.addSubnet(ip!, bits, version === 4 ? "ipv4" : "ipv6");
    } else if (prefix === undefined && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) {
      hosts.add(entry);
    } else {
      throw new Error(`"${raw.trim()}" is not a host name, IP address or CIDR range`);
    }
  }
  return { hosts, nets };
}

/**
 * IP addresses and CIDR ranges only (no host names: a source address is never resolved), as a
 * BlockList to match against and as the normalised entries given. Throws naming the bad entry.
 */
export function parseNetworks(text: string): { list: BlockList; entries: string[] } {
  const list = new BlockList();
  const entries: string[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const [ip, prefix, extra] = entry.split("/");
    const version = isIP(ip!);
    const bits = prefix === undefined ? (version === 4 ? 32 : 128) : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (version === 0 || extra !== undefined || !Number.isInteger(bits) || bits > (version === 4 ? 32 : 128)) {
      throw new Error(`"${raw.trim()}" is not an IP address or CIDR range`);
    }
    list.addSubnet(ip!, bits, version === 4 ? "ipv4" : "ipv6");
    entries.push(prefix === undefined ? ip! : `${ip}/${bits}`);
  }
  return { list, entries };
}

/**
 * Whether `address` (a socket's remote address) is in `list`. An IPv4 client on a dual-stack
 * socket shows as ::ffff:a.b.c.d; it is matched as the IPv4 address it is.
 */
export function inNetworks(list: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1]! : address;
  const version = isIP(ip);
  return version !== 0 && list.check(ip, version === 4 ? "ipv4" : "ipv6");
}

/** Whether the allow-list admits this resolved address. */
export function allowsAddress(list: Allowlist, address: string): boolean {
  const version = isIP(address);
  return version !== 0 && list.nets.check(address, version === 4 ? "ipv4" : "ipv6");
}
