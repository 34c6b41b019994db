// The signature of a webhook request, for the worker that signs it and for
// receivers (and our tests) that verify it.
//
//   Audit-Trail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The MAC is HMAC-SHA256, keyed with the endpoint's secret (its UTF-8 bytes,
// "whsec_..." included), over "<t>.<body>": the timestamp, a dot and the raw
// request body exactly as received. The timestamp is signed so that a
// captured request cannot be replayed later than the receiver's tolerance;
// the event id (Audit-Trail-Event-Id) de-duplicates retries within it.
// A header may carry several v1 values; any one that matches is accepted.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "Audit-Trail-Signature";

/** How old (or how far ahead) a signature's timestamp may be, by default: 5 minutes. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const SHA256_HEX = /^[0-9a-f]{64}$/;

function mac(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  const hmac = createHmac("sha256", secret);
  hmac.update(`${timestamp}.`);
  hmac.update(body);
  return hmac.digest();
}

/** The value of the Audit-Trail-Signature header for `body` sent at `nowSeconds` (unix seconds). */
export function signWebhook(secret: string, body: string | Uint8Array, nowSeconds: number = Math.floor(Date.now() / 1000)): string {
  if (!secret) throw new TypeError("signWebhook: the secret is empty");
  if (!Number.isSafeInteger(nowSeconds) || nowSeconds < 0) throw new TypeError("signWebhook: nowSeconds must be whole unix seconds");
  return `t=${nowSeconds},v1=${mac(secret, nowSeconds, body).toString("hex")}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

export interface VerifyOptions {
  /** Largest difference between the signature's timestamp and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Now, as unix seconds or a Date (default: the clock). */
  now?: number | Date;
}

/**
 * Checks an Audit-Trail-Signature header against the raw body and the
 * endpoint's secret. Never throws for bad input: `{ ok: false, reason }`
 * says why (missing or malformed header, stale timestamp, no match).
 * The MACs are compared in constant time.
 */
export function verifyWebhookSignature(
  header: string | string[] | null | undefined,
  body: string | Uint8Array,
  secret: string,
  options: VerifyOptions = {},
): SignatureCheck {
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = options.now instanceof Date ? Math.floor(options.now.getTime() / 1000) : (options.now ?? Math.floor(Date.now() / 1000));
  if (Array.isArray(header)) {
    if (header.length !== 1) return { ok: false, reason: `expected one ${SIGNATURE_HEADER} header, got ${header.length}` };
    header = header[0];
  }
  if (header === null || header === undefined || header.trim() === "") {
    return { ok: false, reason: `the ${SIGNATURE_HEADER} header is missing` };
  }
  if (!secret) return { ok: false, reason: "no secret to verify with" };
  const malformed = { ok: false as const, reason: `malformed ${SIGNATURE_HEADER} header: expected t=<unix seconds>,v1=<hex HMAC-SHA256>` };
  let timestamp: number | null = null;
  const candidates: Buffer[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return malformed;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (timestamp !== null || !/^\d{1,12}$/.test(value)) return malformed;
      timestamp = Number(value);
    } else if (key === "v1") {
      if (!SHA256_HEX.test(value)) return malformed;
      candidates.push(Buffer.from(value, "hex"));
    }
    // other schemes (a future v2) are ignored
  }
  if (timestamp === null) return malformed;
  if (candidates.length === 0) return { ok: false, reason: `the ${SIGNATURE_HEADER} header has no v1 signature` };
  const age = now - timestamp;
  if (Math.abs(age) > tolerance) {
    return {
      ok: false,
      reason:
        age > 0
          ? `the signature's timestamp is ${age} seconds old (tolerance ${tolerance} seconds): a stale or replayed request`
          : `the signature's timestamp is ${-age} seconds in the future (tolerance ${tolerance} seconds)`,
    };
  }
  const expected = mac(secret, timestamp, body);
  let match = false;
  for (const candidate of candidates) {
    // every candidate is compared (no early exit), each in constant time
    if (timingSafeEqual(candidate, expected)) match = true;
  }
  return match ? { ok: true, timestamp } : { ok: false, reason: "the signature does not match the body and secret" };
}
