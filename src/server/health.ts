// GET /healthz: is the server up and can it reach the database the way API
// requests do (as audit_authenticator)? For load balancers and orchestrators:
// 200 when healthy, 503 otherwise, with no internals in the body.
import type { RequestHandler } from "express";
import type pg from "pg";
import type { Logger } from "../log.ts";

export function healthHandler(pool: pg.Pool, logger: Logger, timeoutMs = 2_000): RequestHandler {
  const log = logger.child({ component: "health" });
  return async (_req, res) => {
    res.set("Cache-Control", "no-store");
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        pool.query("select 1"),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from the database within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      res.json({ status: "ok", database: "ok" });
    } catch (err) {
      log.warn({ err }, "health check failed: database unreachable");
      res.status(503).json({ status: "unavailable", database: "unreachable" });
    } finally {
      clearTimeout(timer);
    }
  };
}
