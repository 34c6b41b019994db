// The HTTP server: Express 5 with PostGraphile (grafserv) at POST /graphql,
// Ruru at /graphiql, GET /healthz, and room for more admin routes. Used by
// `npm start` and by the tests (port 0 = an ephemeral port).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from "express";
import pg from "pg";
import { postgraphile, type PostGraphileInstance } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { createLogger, type Logger } from "../log.ts";
import { AccessLog, type AccessLogMode } from "./access-log.ts";
import { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from "./auth.ts";
import { authenticateAdmin, authenticateGraphQL } from "./authenticate.ts";
import { checkGraphQLRequest } from "./graphql-request.ts";
import { healthHandler } from "./health.ts";
import { makeLogReadsPlugin } from "./log-reads.ts";
import { answerClientError, bodyParserError, sendError } from "./http-errors.ts";
import { GRAPHIQL_PATH, GRAPHQL_PATH, MAX_REQUEST_BYTES, makeAuditPreset } from "./preset.ts";
import { closeHttpServer } from "./shutdown.ts";

export interface ServerOptions {
  /** audit_authenticator's connection string: every request runs through it. */
  authUrl: string;
  /** How tokens are verified (algorithm pinned, key, optional issuer/audience). */
  jwt: TokenVerifierOptions;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 5678; 0 picks a free one). */
  port?: number;
  /** Serve Ruru at /graphiql (default false). */
  graphiql?: boolean;
  /** Answer introspection queries (default false). */
  introspection?: boolean;
  /** Longest SQL statement of a request, ms (default 10 000). */
  statementTimeoutMs?: number;
  /** Deepest selection nesting (default 10). */
  maxDepth?: number;
  /** Highest estimated operation cost (default 5 000; see plugins/operation-limits.ts). */
  maxCost?: number;
  /** Size of the authenticator's connection pool (default 10). */
  poolMax?: number;
  logger?: Logger;
  /**
   * The audit log's own access log (ACCESS_LOG): exports, exports and reads
   * ("all"), or nothing. Default "off" here; `npm start` passes ACCESS_LOG,
   * whose default is "exports".
   */
  accessLog?: AccessLogMode;
  /**
   * Let webhook endpoints use http:// URLs and private or loopback addresses
   * (WEBHOOK_ALLOW_PRIVATE; default false): set as audit.webhook_allow_private
   * in every GraphQL request's settings, which the database's URL check reads.
   */
  webhookAllowPrivate?: boolean;
  /** Extra routes (the admin page, exports), mounted before GraphQL. */
  routes?: (app: Express, context: RouteContext) => void | Promise<void>;
}

/** What extra routes get to serve admins with the API's scope. */
export interface RouteContext {
  /** The audit_authenticator pool (for withScopedTransaction). */
  pool: pg.Pool;
  verify: TokenVerifier;
  /** Middleware: 401 unless a valid token; then claimsOf(req) has the claims. */
  authenticateAdmin: RequestHandler;
  statementTimeoutMs: number;
  logger: Logger;
  /** Where exports record their start and end (see access-log.ts). */
  accessLog: AccessLog;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:5678 */
  url: string;
  port: number;
  app: Express;
  server: Server;
  pool: pg.Pool;
  pgl: PostGraphileInstance;
  verify: TokenVerifier;
  accessLog: AccessLog;
  /** Stops accepting requests, waits for those in flight and for access-log writes, releases PostGraphile and ends the pools. */
  close(): Promise<void>;
}

const NOT_MIGRATED =
  "the database shows no audit.log to audit_authenticator: is it migrated (npm run migrate), and does AUTH_DATABASE_URL name the same database?";

async function checkSchema(pgl: PostGraphileInstance): Promise<void> {
  let hasAuditLogs = false;
  try {
    const { schema } = await pgl.getSchemaResult();
    hasAuditLogs = Boolean(schema.getQueryType()?.getFields().auditLogs);
  } catch (err) {
    // An empty schema fails to build at all ("not suitable for use as root query operation type").
    throw new Error(`GraphQL schema could not be built: ${NOT_MIGRATED}`, { cause: err });
  }
  if (!hasAuditLogs) throw new Error(`GraphQL schema has no auditLogs: ${NOT_MIGRATED}`);
}

interface MountOptions {
  pool: pg.Pool;
  verify: TokenVerifier;
  statementTimeoutMs: number;
  introspection: boolean;
  graphiql: boolean;
  logger: Logger;
  routes: ServerOptions["routes"];
  accessLog: AccessLog;
}

/** Health check, extra routes, authentication, GraphQL (grafserv), then JSON 404s and error handling. */
async function mountRoutes(app: Express, server: Server, pgl: PostGraphileInstance, o: MountOptions): Promise<void> {
  const log = o.logger.child({ component: "http" });
  app.disable("x-powered-by");
  app.use((_req, res, next) => {
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    next();
  });
  app.get("/healthz", healthHandler(o.pool, o.logger));

  await o.routes?.(app, {
    pool: o.pool,
    verify: o.verify,
    authenticateAdmin: authenticateAdmin(o.verify, o.logger),
    statementTimeoutMs: o.statementTimeoutMs,
    logger: o.logger,
    accessLog: o.accessLog,
  });

  app.all(GRAPHQL_PATH, (req, res, next) => {
    if (req.method === "POST") next();
    else sendError(res.set("Allow", "POST"), { status: 405, message: "Send GraphQL requests with POST", code: "METHOD_NOT_ALLOWED" });
  });
  app.post(
    GRAPHQL_PATH,
    express.json({ limit: MAX_REQUEST_BYTES }),
    checkGraphQLRequest,
    authenticateGraphQL({ verify: o.verify, allowAnonymousIntrospection: o.introspection, logger: o.logger }),
  );
  // grafserv answers POST /graphql, and /graphiql with its static assets when enabled.
  await pgl.createServ(grafserv).addTo(app, server);

  app.use((_req, res) => {
    sendError(res, {
      status: 404,
      message: o.graphiql ? `Not found; GraphQL is at POST ${GRAPHQL_PATH}, GraphiQL at ${GRAPHIQL_PATH}` : `Not found; GraphQL is at POST ${GRAPHQL_PATH}`,
      code: "NOT_FOUND",
    });
  });
  const onError: ErrorRequestHandler = (err: Parameters<typeof bodyParserError>[0], _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const clientError = bodyParserError(err);
    if (clientError) {
      sendError(res, clientError);
    } else {
      log.error({ err }, "request failed");
      sendError(res, { status: 500, message: "Internal server error", code: "INTERNAL_SERVER_ERROR" });
    }
  };
  app.use(onError);
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? createLogger("warn");
  const log = logger.child({ component: "http" });
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const introspection = options.introspection ?? false;
  const graphiql = options.graphiql ?? false;
  const verify = createTokenVerifier(options.jwt);

  const pool = new pg.Pool({
    connectionString: options.authUrl,
    max: options.poolMax ?? 10,
    idleTimeoutMillis: 30_000,
    application_name: "audit-trail-api",
    // Queries written without waiting for the previous answer: a request's
    // settings and its first query leave together (scoped-pg-client.ts).
    pipeline: true,
  });
  // An idle client losing its connection (database restart) must not crash the server.
  // (Logged without the error object: pg attaches the whole client to it.)
  pool.on("error", (err: Error & { code?: string }) => log.warn({ error: err.message, code: err.code }, "idle database connection failed"));

  const preset = makeAuditPreset({
    pool,
    statementTimeoutMs,
    graphiql,
    introspection,
    maxDepth: options.maxDepth ?? 10,
    maxCost: options.maxCost ?? 5_000,
    logger,
    webhookAllowPrivate: options.webhookAllowPrivate ?? false,
  });
  const accessLog = new AccessLog({ mode: options.accessLog ?? "off", connectionString: options.authUrl, logger, statementTimeoutMs });
  const pgl = postgraphile(accessLog.recordsReads ? { extends: [preset], plugins: [makeLogReadsPlugin(accessLog)] } : preset);
  const app = express();
  const server = createServer(app);
  server.on("clientError", answerClientError);
  try {
    // Build the schema now: a database without the audit schema fails start-up, not the first request.
    await checkSchema(pgl);
    await mountRoutes(app, server, pgl, {
      pool, verify, statementTimeoutMs, introspection, graphiql, logger, routes: options.routes, accessLog,
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 5678, options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await Promise.resolve(pgl.release()).catch(() => undefined);
    await pool.end().catch(() => undefined);
    await accessLog.close().catch(() => undefined);
    throw err;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${address.port}`;

  let closing: Promise<void> | null = null;
  return {
    url,
    port: address.port,
    app,
    server,
    pool,
    pgl,
    verify,
    accessLog,
    close() {
      closing ??= (async () => {
        await closeHttpServer(server);
        await accessLog.close(); // waits for the entries of the last requests
        await pgl.release(); // releases grafserv too
        await pool.end();
      })();
      return closing;
    },
  };
}
