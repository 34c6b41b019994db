// Which IP addresses a webhook may be posted to. Webhook URLs are chosen by
// tenant admins, so without this check the worker would post, from inside
// our network, to whatever a URL names: the database, a cloud metadata
// service (169.254.169.254), an admin port on localhost (SSRF).
//
// An allow-list: an IPv4 address must be ordinary unicast; an IPv6 address
// ordinary global unicast (2000::/3). Refused: unspecified, loopback,
// link-local, private (RFC 1918), unique-local, carrier-grade NAT,
// multicast, broadcast, reserved, benchmarking and documentation ranges, and
// every form of IPv6 that carries an IPv4 address (IPv4-mapped, the
// translated form of RFC 6145, NAT64 of RFC 6052, 6to4) when that IPv4
// address is refused; Teredo and local-use NAT64 (64:ff9b:1::/48) always.
// The ranges are ipaddr.js's, a maintained library. With allowPrivate
// (WEBHOOK_ALLOW_PRIVATE, for development and private deployments) any
// address is allowed.
import ipaddr from "ipaddr.js";

export interface AddressPolicyOptions {
  /** Allow every address, private ones included (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate?: boolean;
}

export type AddressVerdict =
  | { allowed: true; address: string; range: string }
  | {
      allowed: false;
      address: string;
      range: string;
      /** What the address is, e.g. "a loopback address (as IPv4-mapped IPv6)". */
      description: string;
      /** A sentence for an error message: the address, what it is and the rule. */
      reason: string;
    };

/** The rule, as error messages end with it. */
export const PUBLIC_ONLY = "webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE=true allows private ones)";

/** ipaddr.js's range names, as words in an error message. */
const RANGE_WORDS: Record<string, string> = {
  unspecified: "an unspecified",
  broadcast: "a broadcast",
  multicast: "a multicast",
  linkLocal: "a link-local",
  loopback: "a loopback",
  carrierGradeNat: "a carrier-grade NAT",
  private: "a private",
  uniqueLocal: "a unique-local (private)",
  reserved: "a reserved",
  benchmarking: "a benchmarking",
  as112: "an AS112",
  as112v6: "an AS112",
  amt: "an AMT",
  teredo: "a Teredo",
  rfc6052: "a NAT64",
  deprecatedSiteLocal: "a site-local",
  discard: "a discard-only",
  orchid2: "an ORCHID",
  deprecatedOrchid: "an ORCHID",
  droneRemoteIdProtocolEntityTags: "a reserved",
  segmentRouting: "a segment-routing",
  notGlobal: "a non-global",
};

const GLOBAL_UNICAST_V6: [ipaddr.IPv6, number] = ipaddr.IPv6.parseCIDR("2000::/3");
const NAT64_WELL_KNOWN: [ipaddr.IPv6, number] = ipaddr.IPv6.parseCIDR("64:ff9b::/96");
const IPV4_COMPATIBLE: [ipaddr.IPv6, number] = ipaddr.IPv6.parseCIDR("::/96");

/** The IPv4 address in the last 32 bits of an IPv6 address. */
function lastIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 {
  const p = v6.parts;
  const hi = p[6] ?? 0;
  const lo = p[7] ?? 0;
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

/**
 * The range an address is in, as ipaddr.js names it ("unicast" for an
 * ordinary public address); for IPv6 forms that carry an IPv4 address, the
 * form and the IPv4 address's range, e.g. "ipv4Mapped:loopback".
 * Throws for a string that is not an IP address.
 */
export function addressRange(address: string): string {
  const ip = ipaddr.parse(stripBrackets(address));
  if (ip.kind() === "ipv4") return (ip as ipaddr.IPv4).range();
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  switch (range) {
    case "ipv4Mapped": // ::ffff:a.b.c.d
    case "rfc6145": // ::ffff:0:a.b.c.d
      return `${range}:${lastIPv4(v6).range()}`;
    case "rfc6052": // 64:ff9b::a.b.c.d; the local-use 64:ff9b:1::/48 stays "rfc6052"
      return v6.match(NAT64_WELL_KNOWN) ? `${range}:${lastIPv4(v6).range()}` : range;
    case "6to4": {
      // 2002:AABB:CCDD::/48 routes to a.b.c.d = AA.BB.CC.DD
      const [, hi = 0, lo = 0] = v6.parts;
      return `6to4:${new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]).range()}`;
    }
    case "unicast":
      // IPv4-compatible ::a.b.c.d (deprecated) and everything outside 2000::/3 is not global
      if (v6.match(IPV4_COMPATIBLE) || !v6.match(GLOBAL_UNICAST_V6)) return "notGlobal";
      return "unicast";
    default:
      return range;
  }
}

/** Whether a webhook may be posted to `address` (an IPv4 or IPv6 literal; brackets and a zone are accepted). */
export function checkAddress(address: string, options: AddressPolicyOptions = {}): AddressVerdict {
  let range: string;
  try {
    range = addressRange(address);
  } catch {
    return { allowed: false, address, range: "invalid", description: "not an IP address", reason: `"${address}" is not an IP address` };
  }
  if (options.allowPrivate) return { allowed: true, address, range };
  const [form, inner] = range.includes(":") ? range.split(":") : [null, range];
  if (inner === "unicast") return { allowed: true, address, range };
  const words = RANGE_WORDS[inner ?? ""] ?? `a ${inner}`;
  const via = form === null ? "" : ` (as ${form === "ipv4Mapped" ? "IPv4-mapped IPv6" : form === "rfc6052" ? "NAT64" : form === "rfc6145" ? "IPv4-translated IPv6" : form})`;
  const description = `${words} address${via}`;
  return { allowed: false, address, range, description, reason: `${address} is ${description}; ${PUBLIC_ONLY}` };
}

/** True when a webhook may be posted to `address`. */
export function isAllowedAddress(address: string, options: AddressPolicyOptions = {}): boolean {
  return checkAddress(address, options).allowed;
}

function stripBrackets(address: string): string {
  return address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
}
