// safePost: https only, no credentials, no private address (literal or
// resolved at connect time), no redirects, one deadline; outcomes, never throws.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkWebhookUrl, guardedLookup, safePost, USER_AGENT } from "../../../src/server/webhooks/safe-post.ts";
import { startReceiver, type Receiver } from "./receiver.ts";

const BODY = JSON.stringify({ hello: "world" });
const opts = { timeoutMs: 2_000 };

describe("safePost refuses", () => {
  it("http:// without allowPrivate, URLs with credentials and what is not an http(s) URL, before any connection", async () => {
    expect(await safePost("http://hooks.example.com/x", BODY, opts)).toMatchObject({
      statusCode: null,
      error: "the webhook URL must use https (got http://; http is allowed only with WEBHOOK_ALLOW_PRIVATE=true)",
    });
    expect(await safePost("https://user:pw@hooks.example.com/x", BODY, opts)).toMatchObject({ statusCode: null, error: /must not carry credentials/ });
    expect(await safePost("https://user@hooks.example.com/x", BODY, { ...opts, allowPrivate: true })).toMatchObject({ error: /must not carry credentials/ });
    expect(await safePost("ftp://hooks.example.com/x", BODY, opts)).toMatchObject({ error: /must use https \(got ftp:\/\/\)/ });
    expect(await safePost("not a url", BODY, opts)).toMatchObject({ error: /not a valid absolute URL/ });
    expect(() => checkWebhookUrl("http://hooks.example.com/")).toThrow(/must use https/);
    expect(checkWebhookUrl("http://hooks.example.com/", { allowPrivate: true }).host).toBe("hooks.example.com");
  });

  describe("private addresses, without allowPrivate", () => {
    let trap: net.Server;
    let port = 0;
    let connections = 0;
    beforeAll(async () => {
      // anything that reached this port would be counted
      trap = net.createServer((s) => {
        connections++;
        s.destroy();
      });
      await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
      port = (trap.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => trap.close(() => resolve())));

    it.each([
      ["https://127.0.0.1:PORT/hook", /^127\.0\.0\.1 is a loopback address; webhooks go to public addresses only/],
      ["https://[::1]:PORT/hook", /^::1 is a loopback address; webhooks go to public addresses only/],
      // the URL parser writes it ::ffff:7f00:1
      ["https://[::ffff:127.0.0.1]:PORT/hook", /^::ffff:7f00:1 is a loopback address \(as IPv4-mapped IPv6\); webhooks go to public/],
      ["https://[::ffff:7f00:1]:PORT/hook", /is a loopback address \(as IPv4-mapped IPv6\)/],
      ["https://0x7f.1:PORT/hook", /^127\.0\.0\.1 is a loopback address/], // normalised by the URL parser
      ["https://169.254.169.254/latest/meta-data", /^169\.254\.169\.254 is a link-local address/],
      ["https://10.0.0.8/hook", /is a private address/],
      // a name: checked at connect time, for every address it resolves to
      ["https://localhost:PORT/hook", /^localhost resolves to (127\.0\.0\.1|::1), a loopback address; webhooks go to public addresses only \(WEBHOOK_ALLOW_PRIVATE=true allows private ones\)$/],
    ])("%s", async (url, error) => {
      const result = await safePost(url.replace("PORT", String(port)), BODY, opts);
      expect(result).toMatchObject({ statusCode: null, error });
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
      expect(connections).toBe(0);
    });
  });

  it("a host when any one of its addresses is refused (the connect-time lookup)", async () => {
    const lookupWith = (addresses: string[]) =>
      guardedLookup({
        resolve: (_host, _hints, cb) => cb(null, addresses.map((address) => ({ address, family: net.isIP(address) }))),
      });
    const call = (lookup: net.LookupFunction, all: boolean) =>
      new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
        lookup("hooks.example.com", { all }, (err, address, family) => resolve({ err, address, family })),
      );
    const mixed = await call(lookupWith(["93.184.215.14", "10.0.0.5"]), true);
    expect(mixed.err?.message).toMatch(/^hooks\.example\.com resolves to 10\.0\.0\.5, a private address; webhooks go to public/);
    const v6 = await call(lookupWith(["2606:4700:4700::1111", "fd00::1"]), false);
    expect(v6.err?.message).toMatch(/resolves to fd00::1, a unique-local \(private\) address/);
    const fine = await call(lookupWith(["93.184.215.14", "2606:4700:4700::1111"]), true);
    expect(fine).toMatchObject({ err: null, address: [{ address: "93.184.215.14", family: 4 }, { address: "2606:4700:4700::1111", family: 6 }] });
    const one = await call(lookupWith(["93.184.215.14"]), false);
    expect(one).toMatchObject({ err: null, address: "93.184.215.14", family: 4 });
    const allowed = guardedLookup({ allowPrivate: true, resolve: (_h, _x, cb) => cb(null, [{ address: "10.0.0.5", family: 4 }]) });
    expect(await call(allowed, false)).toMatchObject({ err: null, address: "10.0.0.5" });
  });
});

describe("safePost with allowPrivate (a local receiver)", () => {
  let receiver: Receiver;
  let target: Receiver;
  beforeAll(async () => {
    target = await startReceiver();
    receiver = await startReceiver((req) => {
      if (req.path.startsWith("/ok")) return { status: 204 };
      if (req.path === "/redirect") return { status: 302, headers: { location: `${target.origin}/stolen` } };
      if (req.path === "/boom") return { status: 500, body: "  database\n is   down " };
      if (req.path === "/huge") return { status: 503, body: "x".repeat(1_000_000) };
      return null; // /hang: never answers
    });
  });
  afterAll(async () => {
    await receiver.close();
    await target.close();
  });

  it("posts the body with its headers and reports a 2xx without error", async () => {
    const result = await safePost(`${receiver.origin}/ok?tenant=1`, BODY, {
      ...opts,
      allowPrivate: true,
      headers: { "Audit-Trail-Event-Id": "e-1" },
    });
    expect(result).toMatchObject({ statusCode: 204, error: null });
    const req = receiver.received.find((r) => r.path === "/ok?tenant=1")!;
    expect(req.method).toBe("POST");
    expect(req.body).toBe(BODY);
    expect(req.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      "content-length": String(Buffer.byteLength(BODY)),
      "audit-trail-event-id": "e-1",
    });
  });

  it("does not follow a redirect", async () => {
    const result = await safePost(`${receiver.origin}/redirect`, BODY, { ...opts, allowPrivate: true });
    expect(result.statusCode).toBe(302);
    expect(result.error).toMatch(/^HTTP 302: redirects are not followed \(Location: http:\/\/127\.0\.0\.1:\d+\/stolen\)$/);
    expect(target.received).toHaveLength(0);
  });

  it("reports a failure's status with the start of its body", async () => {
    expect(await safePost(`${receiver.origin}/boom`, BODY, { ...opts, allowPrivate: true })).toMatchObject({
      statusCode: 500,
      error: "HTTP 500: database is down",
    });
    const huge = await safePost(`${receiver.origin}/huge`, BODY, { ...opts, allowPrivate: true });
    expect(huge.statusCode).toBe(503);
    expect(huge.error!.length).toBeLessThan(1_100);
    expect(huge.error).toMatch(/^HTTP 503: x+…$/);
  });

  it("times out a receiver that never answers", async () => {
    const result = await safePost(`${receiver.origin}/hang`, BODY, { timeoutMs: 300, allowPrivate: true });
    expect(result.statusCode).toBeNull();
    expect(result.error).toBe(`timed out after 300 ms (127.0.0.1:${receiver.port})`);
    expect(result.durationMs).toBeGreaterThanOrEqual(295);
    expect(result.durationMs).toBeLessThan(2_000);
  });

  it("reports a refused connection and an unknown host as errors, without throwing", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await safePost(`http://127.0.0.1:${port}/`, BODY, { ...opts, allowPrivate: true })).toMatchObject({
      statusCode: null,
      error: new RegExp(`^connection to 127\\.0\\.0\\.1:${port} failed: .*ECONNREFUSED`),
    });
    expect(await safePost("https://no-such-host.invalid/", BODY, opts)).toMatchObject({
      statusCode: null,
      // (a resolver without network may answer late: the deadline then)
      error: /^(connection to no-such-host\.invalid failed: .*(ENOTFOUND|EAI_AGAIN|EAI_FAIL)|timed out after 2000 ms)/,
    });
  });
});
