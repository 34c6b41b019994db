// The benches' GraphQL client: a POST over a kept-alive HTTP connection,
// timed from the request's start to the response's last byte, which is the
// API's latency as any client sees it. The JSON is parsed (and checked for
// errors) after the clock stops: parsing is the client's own work, and
// differs between a browser, curl and this process.
import http from "node:http";

/** One request's time and its parsed body. */
export interface TimedResponse<T> {
  ms: number;
  data: T;
}

/** A GraphQL request body: a document, or a document with variables. */
export type GraphQLBody = string | { query: string; variables?: Record<string, unknown> };

// One connection, kept alive, as a browser keeps its connection to the API.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function send(url: URL, token: string, payload: string): Promise<{ status: number; text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, {
      method: "POST",
      agent,
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(payload),
        accept: "application/graphql-response+json, application/json",
        authorization: `Bearer ${token}`,
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const ms = performance.now() - t0;
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), ms });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** Posts a GraphQL request to `${baseUrl}/graphql`; throws on an HTTP or GraphQL error. */
export async function postGraphQL<T = unknown>(baseUrl: string, token: string, request: GraphQLBody): Promise<TimedResponse<T>> {
  const payload = JSON.stringify(typeof request === "string" ? { query: request } : request);
  const { status, text, ms } = await send(new URL("/graphql", baseUrl), token, payload);
  let body: { data?: T; errors?: { message: string }[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`GraphQL request failed (${status}): not JSON: ${text.slice(0, 200)}`);
  }
  if (status !== 200 || body.errors?.length || body.data === undefined) {
    throw new Error(`GraphQL request failed (${status}): ${JSON.stringify(body.errors ?? body)}\n${payload.slice(0, 500)}`);
  }
  return { ms, data: body.data };
}
