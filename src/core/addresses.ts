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
  ["multicast", "ff00::", 8, "ipv6"],
  ["reserved", "2001:db8::", 32, "ipv6"], // documentation
];

const LISTS = RANGES.map(([cls, net, prefix, family]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, family);
  return [cls, list, family] as const;
});

/** The class of a non-public address, or undefined for a public one (or not an address). */
export function classifyAddress(address: string): AddressClass | undefined {
  let ip = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  // IPv4 inside IPv6 (::ffff:127.0.0.1, ::ffff:7f00:1 as URLs write it, or NAT64's
  // 64:ff9b::7f00:1) reaches the IPv4 address: judge that.
  if (isIP(ip) === 6) ip = embeddedIPv4(ip) ?? ip;
  const version = isIP(ip);
  if (version === 0) return undefined;
  const family = version === 4 ? "ipv4" : "ipv6";
  for (const [cls, list, f] of LISTS) if (f === family && list.check(ip, family)) return cls;
  return undefined;
}

/** The IPv4 address an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) address carries. */
function embeddedIPv4(ip: string): string | undefined {
  const groups = expandIPv6(ip);
  if (!groups) return undefined;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (!mapped && !nat64) return undefined;
  return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".");
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

/** Whether the allow-list admits this resolved address. */
export function allowsAddress(list: Allowlist, address: string): boolean {
  const version = isIP(address);
  return version !== 0 && list.nets.check(address, version === 4 ? "ipv4" : "ipv6");
}
