// The Audit-Trail-Signature header: what the worker signs, receivers verify.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhookSignature } from "../../../src/server/webhooks/signature.ts";

const SECRET = "whsec_0123456789abcdef0123456789abcdef";
const BODY = JSON.stringify({ id: "6f1c7a5e-0000-4000-8000-000000000001", type: "alert.opened", alert: { severity: "high" } });
const NOW = 1_780_000_000;

describe("webhook signatures", () => {
  it("are t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>", () => {
    const header = signWebhook(SECRET, BODY, NOW);
    const expected = createHmac("sha256", SECRET).update(`${NOW}.${BODY}`).digest("hex");
    expect(header).toBe(`t=${NOW},v1=${expected}`);
  });

  it("verify: a round trip, within the tolerance either way, from a string or the raw bytes", () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(header, BODY, SECRET, { now: NOW })).toEqual({ ok: true, timestamp: NOW });
    expect(verifyWebhookSignature(header, Buffer.from(BODY), SECRET, { now: NOW + 300 })).toMatchObject({ ok: true });
    expect(verifyWebhookSignature(header, BODY, SECRET, { now: NOW - 300 })).toMatchObject({ ok: true });
    expect(verifyWebhookSignature(header, BODY, SECRET, { now: new Date((NOW + 10) * 1000) })).toMatchObject({ ok: true });
    // with the clock (signed now)
    expect(verifyWebhookSignature(signWebhook(SECRET, BODY), BODY, SECRET)).toMatchObject({ ok: true });
    // one of several v1 values (a receiver rotating secrets may see more than one)
    const other = signWebhook("whsec_other", BODY, NOW).split(",v1=")[1];
    expect(verifyWebhookSignature(`${header},v1=${other}`, BODY, SECRET, { now: NOW })).toMatchObject({ ok: true });
  });

  it("refuse a tampered body and a wrong secret", () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(header, BODY.replace("high", "low"), SECRET, { now: NOW })).toEqual({
      ok: false,
      reason: "the signature does not match the body and secret",
    });
    expect(verifyWebhookSignature(header, BODY + " ", SECRET, { now: NOW })).toMatchObject({ ok: false });
    expect(verifyWebhookSignature(header, BODY, "whsec_wrong", { now: NOW })).toMatchObject({ ok: false, reason: /does not match/ });
    // the timestamp is signed: moving it breaks the signature
    const moved = header.replace(`t=${NOW}`, `t=${NOW + 1}`);
    expect(verifyWebhookSignature(moved, BODY, SECRET, { now: NOW })).toMatchObject({ ok: false, reason: /does not match/ });
  });

  it("refuse a stale or future timestamp", () => {
    const header = signWebhook(SECRET, BODY, NOW);
    expect(verifyWebhookSignature(header, BODY, SECRET, { now: NOW + 301 })).toEqual({
      ok: false,
      reason: "the signature's timestamp is 301 seconds old (tolerance 300 seconds): a stale or replayed request",
    });
    expect(verifyWebhookSignature(header, BODY, SECRET, { now: NOW - 400 })).toMatchObject({ ok: false, reason: /400 seconds in the future/ });
    expect(verifyWebhookSignature(header, BODY, SECRET, { now: NOW + 3_000, toleranceSeconds: 3_600 })).toMatchObject({ ok: true });
  });

  it("refuse missing and malformed headers with a reason, never throwing", () => {
    const v1 = signWebhook(SECRET, BODY, NOW).split(",")[1]!;
    const cases: [string | string[] | undefined | null, RegExp][] = [
      [undefined, /header is missing/],
      [null, /header is missing/],
      ["", /header is missing/],
      ["sha256=abc", /malformed Audit-Trail-Signature header/],
      [v1, /malformed/], // no timestamp
      [`t=${NOW}`, /no v1 signature/],
      [`t=${NOW},v1=xyz`, /malformed/],
      [`t=${NOW},v1=${"a".repeat(63)}`, /malformed/],
      [`t=soon,${v1}`, /malformed/],
      [`t=${NOW},t=${NOW},${v1}`, /malformed/],
      [`t=${NOW},${v1},`, /malformed/],
      [[`t=${NOW},${v1}`, `t=${NOW},${v1}`], /expected one Audit-Trail-Signature header, got 2/],
    ];
    for (const [header, reason] of cases) {
      const result = verifyWebhookSignature(header, BODY, SECRET, { now: NOW });
      expect(result, String(header)).toMatchObject({ ok: false, reason });
    }
    expect(verifyWebhookSignature([signWebhook(SECRET, BODY, NOW)], BODY, SECRET, { now: NOW })).toMatchObject({ ok: true });
    expect(verifyWebhookSignature(signWebhook(SECRET, BODY, NOW), BODY, "", { now: NOW })).toMatchObject({ ok: false, reason: /no secret/ });
  });
});
