// Errors the HTTP layer answers itself (before or beside GraphQL), shaped
// like GraphQL errors: `{"errors": [{"message", "extensions": {"code"}}]}`.
import type { Duplex } from "node:stream";
import type { Response } from "express";
import { MAX_REQUEST_BYTES } from "./preset.ts";

export interface HttpError {
  status: number;
  message: string;
  code: string;
}

export function sendError(res: Response, { status, message, code }: HttpError, extra: Record<string, unknown> = {}): void {
  res.status(status).set("Cache-Control", "no-store").json({ errors: [{ message, ...extra, extensions: { code } }] });
}

/**
 * The answer to a failure of Express's body parser (express.json): what was
 * wrong with the body, or null for a failure that is not the client's.
 */
export function bodyParserError(err: { type?: unknown; status?: unknown; encoding?: unknown; charset?: unknown }): HttpError | null {
  switch (err.type) {
    case "entity.too.large":
      return { status: 413, message: `The request body is larger than ${MAX_REQUEST_BYTES} bytes`, code: "REQUEST_TOO_LARGE" };
    case "entity.parse.failed":
      return { status: 400, message: "The request body is not valid JSON", code: "BAD_REQUEST" };
    case "encoding.unsupported":
      return {
        status: 415,
        message: `Content-Encoding ${JSON.stringify(String(err.encoding ?? ""))} is not supported; send the body as is, or gzip, deflate or br`,
        code: "UNSUPPORTED_MEDIA_TYPE",
      };
    case "charset.unsupported":
      return { status: 415, message: "The request body must be JSON in UTF-8 (charset=utf-8)", code: "UNSUPPORTED_MEDIA_TYPE" };
    case "request.size.invalid":
      return { status: 400, message: "The request body's length does not match its Content-Length header", code: "BAD_REQUEST" };
    case "request.aborted":
      return { status: 400, message: "The request was aborted before its body arrived", code: "BAD_REQUEST" };
  }
  return typeof err.status === "number" && err.status >= 400 && err.status < 500 ? { status: err.status, message: "Bad request", code: "BAD_REQUEST" } : null;
}

/**
 * The answer to a request Node's HTTP parser refused (headers over 16 kB, a
 * malformed request line): the same JSON error shape instead of Node's bare
 * status line. For http.Server's "clientError" event.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, message, code] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "The request's headers are larger than the server accepts (16 kB)", "HEADERS_TOO_LARGE"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", "The request did not arrive in time", "REQUEST_TIMEOUT"]
        : [400, "Bad Request", "The request is not well-formed HTTP", "BAD_REQUEST"];
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}
