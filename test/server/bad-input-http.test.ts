// Bad HTTP around the GraphQL API (docs/errors.md): bodies that are too
// large (also once inflated), not JSON, batched or of the wrong shape, other
// content types and charsets, answers the client cannot accept, other
// methods, oversized headers and malformed HTTP. Each gets a 4xx with a
// JSON error and a stable code, before authentication and before any SQL;
// none is logged as a server fault.
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { createLandscape, type Landscape } from "../support/fixtures.ts";
import { watchedServer, type FaultWatch } from "./fault-watch.ts";
import { tenantAdmin } from "./helpers.ts";

const watched = watchedServer((db) => createLandscape(db.app));
let server: RunningServer;
let l: Landscape;
let faults: FaultWatch;

beforeAll(() => {
  ({ server, seeded: l, faults } = watched);
});

const QUERY = JSON.stringify({ query: "{ auditLogs { totalCount } }" });

/** POSTs to /graphql and checks the refusal: status, code, message, JSON body, nothing logged. */
async function refused(init: { body?: BodyInit; headers?: Record<string, string>; method?: string }, status: number, code: string, message: RegExp) {
  const mark = faults.mark();
  const res = await fetch(`${server.url}/graphql`, {
    method: init.method ?? "POST",
    headers: { authorization: `Bearer ${tenantAdmin(l)}`, ...init.headers },
    body: init.body,
  });
  const context = `${init.method ?? "POST"} ${JSON.stringify(init.headers ?? {})} ${String(init.body).slice(0, 80)}`;
  expect(res.status, context).toBe(status);
  expect(res.headers.get("content-type"), context).toMatch(/^application\/json/);
  const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
  expect(body, context).not.toHaveProperty("data");
  expect(body.errors[0]?.extensions.code, context).toBe(code);
  expect(body.errors[0]?.message, context).toMatch(message);
  expect(faults.faultsSince(mark), context).toEqual([]);
  return res;
}

const json = { "content-type": "application/json" };

describe("request bodies", () => {
  it("over 100 kB, also once inflated: REQUEST_TOO_LARGE (413)", async () => {
    const big = JSON.stringify({ query: "{ auditLogs { totalCount } }", variables: { pad: "x".repeat(120_000) } });
    await refused({ body: big, headers: json }, 413, "REQUEST_TOO_LARGE", /^The request body is larger than 100000 bytes$/);
    const bomb = gzipSync(JSON.stringify({ query: "{ auditLogs { totalCount } }", variables: { pad: "x".repeat(10_000_000) } }));
    expect(bomb.length).toBeLessThan(100_000);
    await refused({ body: bomb, headers: { ...json, "content-encoding": "gzip" } }, 413, "REQUEST_TOO_LARGE", /larger than 100000 bytes/);
    // (a plain oversized body: test/server/hardening.test.ts, "refuses bodies over 100 kB")
  });

  it("not JSON, or JSON that is not an object: BAD_REQUEST (400)", async () => {
    for (const body of ["{nope", '"just a string"', "42", "null"]) {
      await refused({ body, headers: json }, 400, "BAD_REQUEST", /^The request body (is not valid JSON|must be a JSON object with a query\.)$/);
    }
  });

  it("a batch (a JSON array of operations): BATCH_NOT_SUPPORTED (400)", async () => {
    for (const body of [`[${QUERY}, ${QUERY}]`, `[${QUERY}]`, "[]"]) {
      await refused({ body, headers: json }, 400, "BATCH_NOT_SUPPORTED", /^Batched requests \(a JSON array\) are not supported: send one operation per request\.$/);
    }
  });

  it("an object without a usable query, or with variables, operationName or extensions of the wrong type: BAD_REQUEST (400)", async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /^The body's query must be a GraphQL document, as a string\.$/],
      [{ query: "" }, /query must be a GraphQL document/],
      [{ query: 42 }, /query must be a GraphQL document/],
      [{ query: { auditLogs: true } }, /query must be a GraphQL document/],
      [{ query: "{ auditLogs { totalCount } }", variables: '{"a": 1}' }, /^The body's variables must be a JSON object when given \(not a string or a list\)\.$/],
      [{ query: "{ auditLogs { totalCount } }", variables: [1] }, /variables must be a JSON object/],
      [{ query: "{ auditLogs { totalCount } }", operationName: 5 }, /^The body's operationName must be a string when given\.$/],
      [{ query: "{ auditLogs { totalCount } }", extensions: "x" }, /^The body's extensions must be a JSON object when given\.$/],
    ];
    for (const [body, message] of cases) await refused({ body: JSON.stringify(body), headers: json }, 400, "BAD_REQUEST", message);
    // An empty body reads as {} (express.json).
    await refused({ body: "", headers: json }, 400, "BAD_REQUEST", /query must be a GraphQL document/);
  });

  it("is checked before authentication: a bad body without a token is still a 400", async () => {
    const res = await fetch(`${server.url}/graphql`, { method: "POST", headers: json, body: "[]" });
    expect(res.status).toBe(400);
    expect((await res.json()).errors[0].extensions.code).toBe("BATCH_NOT_SUPPORTED");
  });
});

describe("headers", () => {
  it("a content type other than JSON: UNSUPPORTED_MEDIA_TYPE (415)", async () => {
    const cases: [Record<string, string>, BodyInit][] = [
      [{ "content-type": "text/plain" }, QUERY],
      [{ "content-type": "application/graphql" }, "{ auditLogs { totalCount } }"],
      [{ "content-type": "application/x-www-form-urlencoded" }, "query=%7B%20auditLogs%20%7B%20totalCount%20%7D%20%7D"],
      [{ "content-type": "multipart/form-data; boundary=x" }, `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ auditLogs { totalCount } }\r\n--x--`],
      [{}, new Blob([QUERY])], // no content type at all
    ];
    for (const [headers, body] of cases) {
      await refused({ body, headers }, 415, "UNSUPPORTED_MEDIA_TYPE", /^Send GraphQL requests as JSON \(Content-Type: application\/json\)/);
    }
  });

  it("JSON in another charset or encoding: UNSUPPORTED_MEDIA_TYPE (415)", async () => {
    await refused({ body: QUERY, headers: { "content-type": "application/json; charset=latin1" } }, 415, "UNSUPPORTED_MEDIA_TYPE", /^The request body must be JSON in UTF-8/);
    await refused({ body: QUERY, headers: { ...json, "content-encoding": "compress" } }, 415, "UNSUPPORTED_MEDIA_TYPE", /^Content-Encoding "compress" is not supported/);
  });

  it("an Accept header without JSON: NOT_ACCEPTABLE (406)", async () => {
    for (const accept of ["text/html", "application/xml", "image/*"]) {
      await refused({ body: QUERY, headers: { ...json, accept } }, 406, "NOT_ACCEPTABLE", /^GraphQL answers are JSON: accept application\/json or application\/graphql-response\+json\.$/);
    }
    const ok = await fetch(`${server.url}/graphql`, { method: "POST", headers: { ...json, accept: "application/json", authorization: `Bearer ${tenantAdmin(l)}` }, body: QUERY });
    expect(ok.status).toBe(200);
  });

  it("two bearer tokens in one Authorization header: INVALID_TOKEN (401)", async () => {
    await refused({ body: QUERY, headers: { ...json, authorization: `Bearer ${tenantAdmin(l)}, Bearer ${tenantAdmin(l)}` } }, 401, "INVALID_TOKEN", /./);
    // (every other shape of token and header: test/server/auth.test.ts)
  });

  it("headers over 16 kB: HEADERS_TOO_LARGE (431), as JSON", async () => {
    const res = await fetch(`${server.url}/graphql`, { method: "POST", headers: { ...json, "x-padding": "x".repeat(20_000) }, body: QUERY });
    expect(res.status).toBe(431);
    expect(await res.json()).toEqual({ errors: [{ message: "The request's headers are larger than the server accepts (16 kB)", extensions: { code: "HEADERS_TOO_LARGE" } }] });
  });

  it("malformed HTTP: BAD_REQUEST (400), as JSON", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, "127.0.0.1", () => socket.write("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"));
      let text = "";
      socket.on("data", (chunk) => (text += chunk.toString("utf8")));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toEqual({ errors: [{ message: "The request is not well-formed HTTP", extensions: { code: "BAD_REQUEST" } }] });
  });
});

describe("methods", () => {
  it("anything but POST: METHOD_NOT_ALLOWED (405)", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const res = await refused({ method, headers: json, body: method === "GET" ? undefined : QUERY }, 405, "METHOD_NOT_ALLOWED", /^Send GraphQL requests with POST$/);
      expect(res.headers.get("allow")).toBe("POST");
    }
  });
});

describe("after all of the above", () => {
  it("no data changed, and nothing was logged as a server fault", () => watched.expectUnharmed());
});
