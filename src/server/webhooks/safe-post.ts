// POSTs a body to a URL a tenant admin chose, without letting that URL reach
// inside our network (SSRF), and without ever throwing for what the network
// or the receiver does: the outcome is a value the worker records.
//
// - https only; http too with allowPrivate (WEBHOOK_ALLOW_PRIVATE, for
//   development and private deployments). No credentials in the URL.
// - Every address the host name resolves to is checked when the socket
//   connects (a custom `lookup`: DNS can change after the URL was
//   registered, and one private address among public ones refuses the
//   host). The socket connects only to the addresses checked, so a second
//   resolution cannot slip another one in. IP literals, which Node connects
//   to without a lookup, are checked directly.
// - Redirects are not followed: a 3xx is a failure.
// - One deadline covers resolution, connection, TLS, the request and the
//   response; at most maxResponseBytes of a failure's body are read, for
//   the error text. A 2xx body is read only when asked (readBody: log
//   streams' vendors, Splunk and Elasticsearch, say in a 2xx body whether
//   they took the batch), to the same limit.
// - A new connection per request (no keep-alive pool that could outlive a
//   check), closed afterwards.
// Error texts name the host, never the URL's path or query (which often
// carry a token), and never the body.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { checkAddress, PUBLIC_ONLY } from "./address-policy.ts";

export const USER_AGENT = "Audit-Trail-Webhooks/1";

/** The Content-Type of a post unless the caller names another. */
export const DEFAULT_CONTENT_TYPE = "application/json";

/** How much of a response body is read by default (for the error text of a failure). */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** How much of a failure's response body goes into its error text. */
const MAX_ERROR_BODY_CHARS = 1_000;

export interface SafePostOptions {
  /** Deadline of the whole exchange, in milliseconds (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Allow private, loopback and link-local addresses, and http (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate?: boolean;
  /** Extra request headers (Content-Type, User-Agent, Content-Length and Connection are set here). */
  headers?: Record<string, string>;
  /** At most this many bytes of the response body are read (default 64 kB). */
  maxResponseBytes?: number;
  /** The body's Content-Type (default application/json). */
  contentType?: string;
  /** The User-Agent (default USER_AGENT, the webhooks'). */
  userAgent?: string;
  /**
   * Read a 2xx answer's body (at most maxResponseBytes of it) into
   * PostResult.body; the post then settles when the body has ended (or the
   * limit is reached), within the deadline. Default false: a 2xx settles on
   * its status line.
   */
  readBody?: boolean;
}

export interface PostResult {
  /** The receiver's HTTP status; null when none came (refused, unreachable, timed out). */
  statusCode: number | null;
  /** Why the post failed; null for a 2xx answer. */
  error: string | null;
  /** From the call to the outcome, in whole milliseconds. */
  durationMs: number;
  /** With readBody, for a 2xx answer: its body as text (at most maxResponseBytes; cut there when longer). */
  body?: string;
}

/** A URL or an address the policy refuses. */
export class RefusedDestinationError extends Error {
  override name = "RefusedDestinationError";
  readonly code = "EWEBHOOKREFUSED";
}

/**
 * Parses and checks a webhook URL: absolute http(s), https unless
 * allowPrivate, no credentials, a host. Returns the URL; throws
 * RefusedDestinationError with a clear message otherwise. (Addresses are
 * checked when connecting.)
 */
export function checkWebhookUrl(raw: string, options: { allowPrivate?: boolean } = {}): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RefusedDestinationError("the webhook URL is not a valid absolute URL (https://host/path)");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new RefusedDestinationError(`the webhook URL must use https (got ${url.protocol}//)`);
  }
  if (url.protocol === "http:" && !options.allowPrivate) {
    throw new RefusedDestinationError("the webhook URL must use https (got http://; http is allowed only with WEBHOOK_ALLOW_PRIVATE=true)");
  }
  if (url.username !== "" || url.password !== "") {
    throw new RefusedDestinationError("the webhook URL must not carry credentials (user:password@); the endpoint's secret signs every request");
  }
  if (bareHost(url) === "") throw new RefusedDestinationError("the webhook URL has no host");
  return url;
}

/** The URL's host name without IPv6 brackets (as sockets and the policy take it). */
function bareHost(url: URL): string {
  const h = url.hostname;
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** Resolves every address of a host name (dns.lookup with all: true; replaceable in tests). */
export type Resolver = (
  hostname: string,
  hints: number | undefined,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/**
 * A socket `lookup` that resolves every address of the host (both
 * families) and fails with RefusedDestinationError when the policy refuses
 * any of them; otherwise answers as dns.lookup would for the options the
 * socket asked with (one address, or all of them for Happy Eyeballs).
 */
export function guardedLookup(options: { allowPrivate?: boolean; resolve?: Resolver } = {}): net.LookupFunction {
  const resolve: Resolver = options.resolve ?? ((hostname, hints, cb) => dns.lookup(hostname, { all: true, hints }, cb));
  return (hostname, lookupOptions, callback) => {
    // both families whatever the socket asked for: a refused address of either refuses the host
    resolve(hostname, lookupOptions.hints, (err, addresses) => {
      if (err) return callback(err, "");
      for (const a of addresses) {
        const verdict = checkAddress(a.address, options);
        if (!verdict.allowed) {
          const error = new RefusedDestinationError(
            verdict.range === "invalid"
              ? `${hostname} resolves to "${a.address}", which is not an IP address`
              : `${hostname} resolves to ${a.address}, ${verdict.description}; ${PUBLIC_ONLY}`,
          );
          return callback(error, "");
        }
      }
      const family = lookupOptions.family === "IPv4" ? 4 : lookupOptions.family === "IPv6" ? 6 : (lookupOptions.family ?? 0);
      const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
      const first = usable[0];
      if (!first) {
        const notFound: NodeJS.ErrnoException = new Error(`${hostname} has no ${family ? `IPv${family} ` : ""}address`);
        notFound.code = "ENOTFOUND";
        return callback(notFound, "");
      }
      if (lookupOptions.all) callback(null, usable);
      else callback(null, first.address, first.family);
    });
  };
}

/** A network error as one line: the Node message, or each of Happy Eyeballs' attempts. */
function describeNetworkError(err: unknown, hostPort: string): string {
  if (err instanceof RefusedDestinationError) return err.message;
  if (err instanceof AggregateError && err.errors.length > 0) {
    return `connection to ${hostPort} failed: ${err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join("; ")}`;
  }
  const e = err as NodeJS.ErrnoException;
  const message = e?.message || e?.code || String(err);
  return `connection to ${hostPort} failed: ${message}`;
}

/** A response body as a short single line for an error text. */
function bodySnippet(chunks: Buffer[]): string {
  const text = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > MAX_ERROR_BODY_CHARS ? `${text.slice(0, MAX_ERROR_BODY_CHARS)}…` : text;
}

/**
 * POSTs `body` to `rawUrl`. Resolves with the status, an error text for
 * anything but a 2xx answer, and the duration; never rejects.
 */
export function safePost(rawUrl: string, body: string, options: SafePostOptions): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const allowPrivate = options.allowPrivate ?? false;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;

  let url: URL;
  try {
    url = checkWebhookUrl(rawUrl, { allowPrivate });
  } catch (err) {
    return Promise.resolve({ statusCode: null, error: (err as Error).message, durationMs: elapsed() });
  }
  const host = bareHost(url);
  if (net.isIP(host)) {
    const verdict = checkAddress(host, { allowPrivate });
    if (!verdict.allowed) return Promise.resolve({ statusCode: null, error: verdict.reason, durationMs: elapsed() });
  }
  const payload = Buffer.from(body, "utf8");

  return new Promise<PostResult>((resolve) => {
    let settled = false;
    let statusCode: number | null = null;
    const settle = (error: string | null, body?: string) => {
      if (settled) return;
      settled = true;
      resolve(body === undefined ? { statusCode, error, durationMs: elapsed() } : { statusCode, error, durationMs: elapsed(), body });
    };
    let req: http.ClientRequest | null = null;
    const cleanup = () => {
      clearTimeout(deadline);
      req?.destroy();
    };
    const deadline = setTimeout(() => {
      settle(
        statusCode === null
          ? `timed out after ${options.timeoutMs} ms (${url.host})`
          : `HTTP ${statusCode}; the response did not finish within ${options.timeoutMs} ms`,
      );
      cleanup();
    }, options.timeoutMs);

    const transport = url.protocol === "https:" ? https : http;
    try {
      req = transport.request({
        method: "POST",
        protocol: url.protocol,
        hostname: host,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: {
          ...options.headers,
          "Content-Type": options.contentType ?? DEFAULT_CONTENT_TYPE,
          "User-Agent": options.userAgent ?? USER_AGENT,
          "Content-Length": String(payload.length),
          Connection: "close",
        },
        agent: false,
        lookup: guardedLookup({ allowPrivate }),
        // Node skips `lookup` for IP literals (checked above); for names, SNI and certificate checks use the host
        servername: net.isIP(host) ? undefined : host,
      });
    } catch (err) {
      // bad header values and the like: the request never started
      settle(`the request could not be made: ${(err as Error).message}`);
      cleanup();
      return;
    }

    req.on("error", (err) => {
      settle(describeNetworkError(err, url.host));
      cleanup();
    });

    req.on("response", (res) => {
      statusCode = res.statusCode ?? null;
      // A reset after we have what we need is not news (and an unheard 'error' would crash the process).
      res.on("error", () => {
        settle(`HTTP ${statusCode}; the connection failed while reading the response`);
        cleanup();
      });
      const status = statusCode ?? 0;
      if (status >= 200 && status < 300 && options.readBody) {
        readBounded(res, maxResponseBytes, () => settled, (chunks) => {
          settle(null, Buffer.concat(chunks).toString("utf8"));
          cleanup();
        });
        return;
      }
      if (status >= 200 && status < 300) {
        settle(null);
        // let the receiver finish its answer (bounded by the deadline), then close
        res.resume();
        res.on("end", cleanup);
        return;
      }
      if (status >= 300 && status < 400) {
        const location = res.headers.location ? ` (Location: ${String(res.headers.location).slice(0, 200)})` : "";
        settle(`HTTP ${status}: redirects are not followed${location}`);
        cleanup();
        return;
      }
      readBounded(res, maxResponseBytes, () => settled, (chunks) => {
        const snippet = bodySnippet(chunks);
        settle(`HTTP ${status}${snippet ? `: ${snippet}` : ""}`);
        cleanup();
      });
    });

    req.end(payload);
  });
}

/**
 * Reads a response body up to `max` bytes, then calls `done` with what it
 * read: at the limit or at the end of the body, whichever comes first (and
 * nothing more once the outcome is settled).
 */
function readBounded(res: http.IncomingMessage, max: number, settled: () => boolean, done: (chunks: Buffer[]) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on("data", (chunk: Buffer) => {
    if (settled()) return;
    const room = max - size;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    size += Math.min(chunk.length, room);
    if (size >= max) done(chunks);
  });
  res.on("end", () => done(chunks));
}
