// `npm start`: the embedded PostgreSQL (or DATABASE_URL), migrations,
// partitions, the demo data on a fresh embedded database (or with --demo),
// then the HTTP server (GraphQL, GraphiQL, health check); then, in the
// background, moves entries out of the default partition and keeps
// partitions ahead daily, runs the security detectors every
// DETECT_INTERVAL_MS and posts their webhooks, keeps the rollups behind the
// charts within ROLLUP_INTERVAL_MS of the log, delivers the tenants' log
// streams, seals the log every SEAL_INTERVAL_MS and verifies the seals every
// VERIFY_INTERVAL_MS; stops cleanly on SIGINT / SIGTERM.
import { assertServerConfig, ConfigError, loadConfig } from "../config.ts";
import { prepareDatabase, type PreparedDatabase } from "../db/setup.ts";
import { EmbeddedSetupError } from "../db/embedded.ts";
import { startDetection } from "../db/detection.ts";
import { startRollups } from "../db/rollups.ts";
import { resolveSealKeys } from "../sealing/key-config.ts";
import { startSealing } from "../sealing/sealer.ts";
import { startVerification } from "../sealing/verification-loop.ts";
import { startLogMaintenance } from "../db/migrate.ts";
import { demoState, loadDemo } from "../demo/load.ts";
import { formatDemoTokens, signDemoTokens } from "../demo/tokens.ts";
import { createLogger } from "../log.ts";
import { resolveJwtKey } from "../server/jwt-key.ts";
import { WebhookWorker } from "../server/webhooks/delivery-worker.ts";
import { LogStreamWorker } from "../streams/stream-worker.ts";
import { exitGracefullyOnSignals, type ShutdownStep } from "../server/shutdown.ts";
import type { DemoToken } from "../shared/demo-token.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const logger = createLogger();

// Production mode of Grafast, said explicitly (it otherwise warns at start-up);
// set before PostGraphile is loaded, hence the dynamic import below.
process.env.GRAPHILE_ENV ??= "production";

async function main(): Promise<void> {
  const config = loadConfig(process.env, process.argv.slice(2));
  assertServerConfig(config);
  const db: PreparedDatabase = await prepareDatabase(config, logger);

  // From here on a signal stops whatever is running, then the database.
  // src/db/embedded.ts hooks SIGINT/SIGTERM to stop the cluster and exit at
  // once, which would cut requests in flight off their database; this
  // process stops it last, in order, instead.
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  const steps: ShutdownStep[] = [{ name: "database", run: () => db.stop() }];
  exitGracefullyOnSignals(() => steps, { logger });

  try {
    // After the database, which made the data folder (the embedded default's
    // key pair lives there); an unusable key file stops start-up with its name.
    const sealKeys = resolveSealKeys(config);
    const jwtKey = await resolveJwtKey(config.jwt, { embedded: db.embedded !== null, dataDir: config.dataDir });
    if (jwtKey.source === "generated") logger.info({ dataDir: config.dataDir }, "using the generated JWT secret of this data folder (embedded default)");

    let tokens: DemoToken[] = [];
    if (config.demo) {
      let state = await demoState(db.ownerUrl);
      if (state === "empty") {
        logger.info("empty database: loading the demo data (a few seconds)");
        await loadDemo(db.ownerUrl, logger);
        state = "loaded";
      } else if (state === "other") {
        logger.info("the database already holds data: the demo is not loaded");
      }
      if (state === "loaded") {
        if (jwtKey.signingSecret) tokens = signDemoTokens(jwtKey.signingSecret, config.jwt);
        else logger.warn("demo tokens cannot be printed: tokens are RS256 and this server only has the public key");
      }
    }

    const { startServer } = await import("../server/app.ts");
    const { webRoutes } = await import("../server/routes/web-routes.ts");
    const server = await startServer({
      authUrl: db.authUrl,
      jwt: jwtKey.verifier,
      host: config.host,
      port: config.port,
      graphiql: config.graphiql,
      introspection: config.introspection,
      statementTimeoutMs: config.statementTimeoutMs,
      maxDepth: config.graphqlMaxDepth,
      maxCost: config.graphqlMaxCost,
      accessLog: config.accessLog,
      webhookAllowPrivate: config.webhookAllowPrivate,
      logger,
      // The Audit Logs page at /, its export, and the demo's one-click sign-in (demo only).
      routes: webRoutes({ demoTokens: tokens }),
    });
    steps.unshift({ name: "http server, PostGraphile and the API's pool", run: () => server.close() });

    const graphiqlUrl = config.graphiql ? `${server.url}/graphiql` : null;
    if (tokens.length) process.stdout.write(formatDemoTokens(tokens, graphiqlUrl, server.url) + "\n");
    logger.info(
      {
        // The server's own pid: `npm start` does not pass signals on, so
        // supervisors (and the tests) signal this process directly.
        pid: process.pid,
        url: server.url,
        graphql: `${server.url}/graphql`,
        graphiql: graphiqlUrl ?? undefined,
        database: db.embedded ? "embedded" : "DATABASE_URL",
        cluster: db.embedded?.clusterDir,
        appDatabaseUrl: db.appUrl ?? undefined,
      },
      `ready: GraphQL at ${server.url}/graphql${graphiqlUrl ? `, GraphiQL at ${graphiqlUrl}` : ""}`,
    );

    // Serving first: entries waiting in the default partition (history
    // imported before its years' partitions existed) are moved, and entries
    // written before entity labels are labelled, in batches in the
    // background, then daily upkeep; a signal ends it between batches.
    const maintenance = startLogMaintenance(db.ownerUrl, logger, DAY_MS);
    steps.unshift({ name: "log maintenance", run: () => maintenance.stop() });

    // Security monitoring, after the demo is loaded: the detectors read the
    // log's new entries every DETECT_INTERVAL_MS (audit.detect()).
    const detection = startDetection({ connectionString: db.ownerUrl, intervalMs: config.detectIntervalMs, logger });
    steps.unshift({ name: "detection", run: () => detection.stop() });
    // The rollups behind the charts and counts (audit.refresh_rollups()),
    // at most ROLLUP_INTERVAL_MS behind the log: the less they trail, the
    // less a chart counts live.
    const rollups = startRollups({ connectionString: db.ownerUrl, intervalMs: config.rollupIntervalMs, logger });
    steps.unshift({ name: "rollups", run: () => rollups.stop() });
    // ... and the outbox's deliveries are posted to the tenants' webhook endpoints.
    const webhooks = new WebhookWorker({
      connectionString: db.ownerUrl,
      logger,
      allowPrivate: config.webhookAllowPrivate,
      timeoutMs: config.webhookTimeoutMs,
      pollMs: config.webhookPollMs,
      retryBaseMs: config.webhookRetryBaseMs,
    });
    webhooks.start();
    steps.unshift({ name: "webhook deliveries", run: () => webhooks.stop() });
    // Log streams: each tenant's entries to its SIEM, bucket or files, read
    // through the API's pool under the tenant's row-level security.
    const streams = new LogStreamWorker({
      ownerUrl: db.ownerUrl,
      readerPool: server.pool,
      logger,
      allowPrivate: config.webhookAllowPrivate,
      timeoutMs: config.streamTimeoutMs,
      pollMs: config.streamPollMs,
      retryBaseMs: config.streamRetryBaseMs,
      fileRoot: config.streamFileRoot,
    });
    streams.start();
    // (before the server's pool ends: the steps run first to last)
    steps.unshift({ name: "log streams", run: () => streams.stop() });

    // Tamper evidence, after the demo is loaded: every SEAL_INTERVAL_MS the
    // log's new rounds are sealed and signed (with the key this process holds;
    // without one, \`npm run seal\` runs where the key is), and every
    // VERIFY_INTERVAL_MS every tenant's seals are verified.
    let firstSealing: Promise<unknown> | undefined;
    if (sealKeys.signing && config.sealIntervalMs > 0) {
      const sealing = startSealing({ connectionString: db.ownerUrl, signing: sealKeys.signing, intervalMs: config.sealIntervalMs, logger });
      firstSealing = sealing.firstRun;
      steps.unshift({ name: "sealing", run: () => sealing.stop() });
      logger.info({ keyId: sealKeys.signing.keyId, keys: sealKeys.source, intervalMs: config.sealIntervalMs }, "sealing the log");
    } else {
      logger.info(sealKeys.signing ? "sealing is off in this process (SEAL_INTERVAL_MS=0)" : "sealing is not done by this process (no SEAL_PRIVATE_KEY_FILE): run `npm run seal` where the key is");
    }
    if (sealKeys.publicKeys && config.verifyIntervalMs > 0) {
      const verification = startVerification({
        connectionString: db.ownerUrl,
        publicKeys: sealKeys.publicKeys,
        intervalMs: config.verifyIntervalMs,
        unsealedAfterMs: 2 * (config.sealIntervalMs || 60_000),
        logger,
        after: firstSealing,
      });
      steps.unshift({ name: "verification", run: () => verification.stop() });
    }
  } catch (err) {
    await db.stop();
    throw err;
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof EmbeddedSetupError) logger.fatal(err.message);
  else logger.fatal({ err }, "start-up failed");
  process.exit(1);
});
