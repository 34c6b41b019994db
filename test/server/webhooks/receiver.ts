// A webhook receiver on 127.0.0.1 for the tests: records every request
// (headers and raw body) and answers with what the test's handler says.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  /** http://127.0.0.1:<port> */
  origin: string;
  port: number;
  received: ReceivedRequest[];
  /** TCP connections accepted (also those that never sent a request). */
  connections: number;
  close(): Promise<void>;
}

/** `answer` returns the status (and body) of each request, or null to never answer. */
export async function startReceiver(
  answer: (req: ReceivedRequest, index: number) => { status: number; body?: string; headers?: Record<string, string> } | null = () => ({ status: 200 }),
): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(request);
      const reply = answer(request, received.length - 1);
      if (reply === null) return; // hang
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? "");
    });
  });
  const receiver: Receiver = {
    origin: "",
    port: 0,
    received,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on("connection", () => receiver.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.origin = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}
