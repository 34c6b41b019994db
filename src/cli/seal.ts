// `npm run seal`: seals every due round of the log (DATABASE_URL, or the
// embedded default's database) with the key in SEAL_PRIVATE_KEY_FILE (the
// embedded default: its data folder's), prints how many seals it made and
// every tenant's newest seal, the hash a tenant keeps outside the database
// to anchor its chain. Exit code 0, or 1 on an error (2: another sealer was
// running, nothing done).
import pg from "pg";
import { ConfigError, loadConfig } from "../config.ts";
import { openOwnerDatabase } from "../db/attach.ts";
import { EmbeddedSetupError } from "../db/embedded.ts";
import { createLogger } from "../log.ts";
import { resolveSealKeys } from "../sealing/key-config.ts";
import { sealDueRounds, sealHeads } from "../sealing/sealer.ts";

const logger = createLogger(process.env.LOG_LEVEL ?? "warn", true);
const json = process.argv.includes("--json");
try {
  const config = loadConfig();
  const keys = resolveSealKeys(config);
  if (!keys.signing) {
    throw new ConfigError(
      "SEAL_PRIVATE_KEY_FILE is required when DATABASE_URL is set: the Ed25519 private key (PEM) that signs seals, e.g. from `openssl genpkey -algorithm ed25519 -out seal-private.pem`",
    );
  }
  const db = await openOwnerDatabase(config, logger);
  const client = new pg.Client({ connectionString: db.ownerUrl, application_name: "audit-trail-seal" });
  try {
    await client.connect();
    const started = performance.now();
    const result = await sealDueRounds(client, keys.signing);
    const heads = await sealHeads(client);
    const ms = Math.round(performance.now() - started);
    if (json) {
      process.stdout.write(JSON.stringify({ ...result, heads, keyId: keys.signing.keyId, ms }) + "\n");
    } else if (result.busy) {
      process.stdout.write("Another sealer is running a round right now; nothing done.\n");
    } else {
      const rounds = `${result.rounds} round${result.rounds === 1 ? "" : "s"}, ${ms} ms, key ${keys.signing.keyId}`;
      const lines = [
        result.seals === 0
          ? `Nothing new to seal (${rounds}).`
          : `Sealed ${result.seals} seal${result.seals === 1 ? "" : "s"} (${result.entries} entries${result.reseals ? `, ${result.reseals} re-sealed after maintenance` : ""}) in ${rounds}.`,
        "",
        "Newest seal per tenant (keep these outside the database: they anchor each tenant's chain):",
        ...heads.map((h) => `  ${h.tenantId}  seal ${h.seq}  ${h.sealHash}`),
      ];
      if (heads.length === 0) lines.push("  (none yet)");
      process.stdout.write(lines.join("\n") + "\n");
    }
    if (result.busy) process.exitCode = 2;
  } finally {
    await client.end().catch(() => undefined);
    await db.stop();
  }
} catch (err) {
  if (err instanceof ConfigError || err instanceof EmbeddedSetupError) process.stderr.write(`npm run seal: ${err.message}\n`);
  else logger.fatal({ err }, "sealing failed");
  process.exitCode = 1;
}
