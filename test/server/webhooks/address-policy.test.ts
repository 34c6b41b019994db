// Which addresses webhooks may reach: public unicast only, unless allowPrivate.
import { describe, expect, it } from "vitest";
import { addressRange, checkAddress, isAllowedAddress } from "../../../src/server/webhooks/address-policy.ts";

const REFUSED: [string, RegExp][] = [
  ["127.0.0.1", /loopback/],
  ["127.255.255.254", /loopback/],
  ["0.0.0.0", /unspecified/],
  ["10.0.0.1", /private/],
  ["172.16.5.4", /private/],
  ["172.31.255.255", /private/],
  ["192.168.1.1", /private/],
  ["169.254.169.254", /link-local/], // cloud metadata
  ["100.64.0.1", /carrier-grade NAT/],
  ["224.0.0.1", /multicast/],
  ["239.255.255.250", /multicast/],
  ["255.255.255.255", /broadcast/],
  ["240.0.0.1", /reserved/],
  ["192.0.2.10", /reserved/],
  ["198.18.0.1", /reserved/],
  ["::1", /loopback/],
  ["[::1]", /loopback/],
  ["::", /unspecified/],
  ["fe80::1", /link-local/],
  ["fe80::1%eth0", /link-local/],
  ["fc00::1", /unique-local/],
  ["fd00:ec2::254", /unique-local/],
  ["ff02::1", /multicast/],
  ["fec0::1", /site-local/],
  ["2001:db8::1", /reserved/],
  ["100::1", /discard/],
  // IPv4-mapped and other IPv6 forms that carry a refused IPv4 address
  ["::ffff:127.0.0.1", /loopback address \(as IPv4-mapped IPv6\)/],
  ["::ffff:7f00:1", /loopback address \(as IPv4-mapped IPv6\)/],
  ["::ffff:10.0.0.1", /private address \(as IPv4-mapped IPv6\)/],
  ["::ffff:169.254.169.254", /link-local address \(as IPv4-mapped IPv6\)/],
  ["::ffff:0:127.0.0.1", /loopback address \(as IPv4-translated IPv6\)/],
  ["64:ff9b::127.0.0.1", /loopback address \(as NAT64\)/],
  ["64:ff9b::a00:1", /private address \(as NAT64\)/],
  ["64:ff9b:1::1", /NAT64/], // local-use NAT64
  ["2002:7f00:1::1", /loopback address \(as 6to4\)/],
  ["2002:c0a8:101::1", /private address \(as 6to4\)/],
  ["2001::1", /Teredo/],
  ["::7f00:1", /non-global/], // IPv4-compatible (deprecated)
  ["5f00::1", /segment-routing/],
];

const ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "2a00:1450:4001::1",
  "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"];

describe("the address policy", () => {
  it.each(REFUSED)("refuses %s", (address, what) => {
    const verdict = checkAddress(address);
    expect(verdict.allowed).toBe(false);
    if (verdict.allowed) return;
    expect(verdict.reason).toMatch(what);
    expect(verdict.reason).toMatch(/webhooks go to public addresses only \(WEBHOOK_ALLOW_PRIVATE=true allows private ones\)$/);
    expect(isAllowedAddress(address)).toBe(false);
  });

  it.each(ALLOWED)("allows %s", (address) => {
    expect(checkAddress(address)).toMatchObject({ allowed: true });
  });

  it("allows every address with allowPrivate", () => {
    for (const [address] of REFUSED) expect(isAllowedAddress(address, { allowPrivate: true }), address).toBe(true);
    for (const address of ALLOWED) expect(isAllowedAddress(address, { allowPrivate: true }), address).toBe(true);
  });

  it("refuses what is not an IP address, even with allowPrivate", () => {
    for (const address of ["localhost", "example.com", "", "1.2.3.4.5", "::ffff::1::"]) {
      for (const allowPrivate of [false, true]) {
        expect(checkAddress(address, { allowPrivate }), address).toMatchObject({ allowed: false, range: "invalid", reason: /is not an IP address/ });
      }
    }
  });

  it("names the range, and the IPv4 address's range inside IPv6 forms", () => {
    expect(addressRange("127.0.0.1")).toBe("loopback");
    expect(addressRange("::ffff:7f00:1")).toBe("ipv4Mapped:loopback");
    expect(addressRange("::ffff:8.8.8.8")).toBe("ipv4Mapped:unicast");
    expect(addressRange("2606:4700:4700::1111")).toBe("unicast");
  });
});
