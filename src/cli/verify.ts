// `npm run verify`: checks the log against its seals, like CloudTrail's
// validate-logs. Against the database (DATABASE_URL, or the embedded
// default's): every seal in range recomputed, its signature checked with the
// trusted keys of SEAL_PUBLIC_KEY_FILE, and each entry compared with its
// seal (src/sealing/verifier.ts); with --anchors, the seals a tenant kept
// outside the database must still be in its chain, unchanged. With --export FILE: an export checked
// offline, without any database. Exit code 0 when nothing but ok and
// journaled maintenance was found, 1 on any finding, 2 on bad usage.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import pg from "pg";
import { ConfigError, loadConfig } from "../config.ts";
import { openOwnerDatabase } from "../db/attach.ts";
import { EmbeddedSetupError } from "../db/embedded.ts";
import { createLogger } from "../log.ts";
import { formatExportVerification, verifyExport } from "../sealing/export-verify.ts";
import { resolveSealKeys } from "../sealing/key-config.ts";
import { formatVerification, jsonVerification } from "../sealing/verify-report.ts";
import { hasFindings, parseAnchors, recordVerification, verifyLog, type SealAnchor } from "../sealing/verifier.ts";

const USAGE = `usage: npm run verify -- [--tenant ID] [--from TIME] [--to TIME] [--anchors FILE] [--json] [--skip-signatures] [--no-record]
       npm run verify -- --export FILE [--proof SIDECAR] [--json] [--skip-signatures]`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class UsageError extends Error {}

function parseTime(raw: string | undefined, name: string): Date | null {
  if (raw === undefined) return null;
  const t = new Date(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(t.getTime())) {
    throw new UsageError(`${name} must be an ISO 8601 date or time, e.g. 2026-11-30 or 2026-11-30T10:00:00Z; got "${raw}"`);
  }
  return t;
}

const logger = createLogger(process.env.LOG_LEVEL ?? "warn", true);
try {
  let args;
  try {
    args = parseArgs({
      options: {
        tenant: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        json: { type: "boolean", default: false },
        export: { type: "string" },
        proof: { type: "string" },
        anchors: { type: "string" },
        "skip-signatures": { type: "boolean", default: false },
        "no-record": { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (args.tenant !== undefined && !UUID.test(args.tenant)) throw new UsageError(`--tenant must be a tenant id (a uuid), got "${args.tenant}"`);
  const from = parseTime(args.from, "--from");
  const to = parseTime(args.to, "--to");
  if (from && to && from >= to) throw new UsageError("--from must be before --to");
  if (args.proof && !args.export) throw new UsageError("--proof names the sidecar of an export: use it with --export FILE");
  if (args.anchors && args.export) throw new UsageError("--anchors checks the database's seal chains: leave out --export");
  let anchors: SealAnchor[] | undefined;
  if (args.anchors) {
    try {
      anchors = parseAnchors(readFileSync(args.anchors, "utf8"));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`--anchors ${args.anchors}: ${code ? `cannot read it (${code})` : (err as Error).message}`);
    }
  }

  const config = loadConfig();
  const keys = resolveSealKeys(config);
  if (!keys.publicKeys && !args["skip-signatures"]) {
    throw new ConfigError(
      "SEAL_PUBLIC_KEY_FILE is required when DATABASE_URL is set: the trusted Ed25519 public key(s) of the sealer, in PEM (never read from the database); or pass --skip-signatures",
    );
  }
  const publicKeys = args["skip-signatures"] ? null : keys.publicKeys;

  if (args.export) {
    const result = await verifyExport({ file: args.export, proofFile: args.proof, publicKeys: publicKeys ?? undefined });
    process.stdout.write(args.json ? JSON.stringify(result) + "\n" : formatExportVerification(result) + "\n");
    process.exitCode = result.ok ? 0 : 1;
  } else {
    const db = await openOwnerDatabase(config, logger);
    const client = new pg.Client({ connectionString: db.ownerUrl, application_name: "audit-trail-verify" });
    try {
      await client.connect();
      const options = { tenantId: args.tenant ?? null, from, to, publicKeys, unsealedAfterMs: 2 * (config.sealIntervalMs || 60_000), connectionString: db.ownerUrl, anchors };
      const result = await verifyLog(client, options);
      if (!args["no-record"]) await recordVerification(client, result, "npm run verify", options);
      process.stdout.write(args.json ? JSON.stringify(jsonVerification(result)) + "\n" : formatVerification(result) + "\n");
      process.exitCode = hasFindings(result) ? 1 : 0;
    } finally {
      await client.end().catch(() => undefined);
      await db.stop();
    }
  }
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`npm run verify: ${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else if (err instanceof ConfigError || err instanceof EmbeddedSetupError) {
    process.stderr.write(`npm run verify: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    logger.fatal({ err }, "verification failed");
    process.exitCode = 2;
  }
}
