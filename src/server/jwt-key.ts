// Which key verifies admin tokens: JWT_SECRET (HS256), JWT_PUBLIC_KEY
// (RS256), or, for the embedded default only, a secret generated on first
// start and kept in the data folder (mode 0600) so tokens survive restarts.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { checkJwtSecret, ConfigError, type JwtSettings } from "../config.ts";
import type { TokenVerifierOptions } from "./auth.ts";

export const GENERATED_SECRET_FILE = "jwt-secret";

export interface JwtKey {
  verifier: TokenVerifierOptions;
  /** The HS256 secret, when this server knows it (to sign demo tokens); null for RS256. */
  signingSecret: string | null;
  source: "JWT_SECRET" | "JWT_PUBLIC_KEY" | "generated";
}

async function loadOrCreateSecret(dataDir: string): Promise<string> {
  const file = path.join(dataDir, GENERATED_SECRET_FILE);
  try {
    const secret = (await readFile(file, "utf8")).trim();
    return checkJwtSecret(secret, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const secret = randomBytes(48).toString("base64url");
  await mkdir(dataDir, { recursive: true });
  // "wx": never overwrite a secret another process just wrote.
  await writeFile(file, secret + "\n", { mode: 0o600, flag: "wx" }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  return checkJwtSecret((await readFile(file, "utf8")).trim(), file);
}

export async function resolveJwtKey(jwt: JwtSettings, options: { embedded: boolean; dataDir: string }): Promise<JwtKey> {
  const common = { issuer: jwt.issuer, audience: jwt.audience };
  if (jwt.publicKey) {
    return { verifier: { algorithm: "RS256", key: jwt.publicKey, ...common }, signingSecret: null, source: "JWT_PUBLIC_KEY" };
  }
  if (jwt.secret) {
    return { verifier: { algorithm: "HS256", key: jwt.secret, ...common }, signingSecret: jwt.secret, source: "JWT_SECRET" };
  }
  if (!options.embedded) {
    throw new ConfigError("JWT_SECRET (or JWT_PUBLIC_KEY) is required when DATABASE_URL is set");
  }
  const secret = await loadOrCreateSecret(options.dataDir);
  return { verifier: { algorithm: "HS256", key: secret, ...common }, signingSecret: secret, source: "generated" };
}
