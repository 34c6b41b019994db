// Server configuration: JWT key settings (a missing or weak secret stops
// start-up with a clear message), the generated secret of the embedded
// default, and the production switches.
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { assertServerConfig, ConfigError, loadConfig } from "../../src/config.ts";
import { GENERATED_SECRET_FILE, resolveJwtKey } from "../../src/server/jwt-key.ts";

const STRONG = "Zq8vN2xR7tLp4cW9mK3sB6yH1dF5gJ0e";
const DB = "postgres://owner@db.example:5432/audit_trail";
const rsaPublic = (bits: number) =>
  generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ type: "spki", format: "pem" }).toString();

describe("JWT settings", () => {
  it("require a key when DATABASE_URL is set", () => {
    const config = loadConfig({ DATABASE_URL: DB });
    expect(() => assertServerConfig(config)).toThrow(ConfigError);
    expect(() => assertServerConfig(config)).toThrow(/^JWT_SECRET is required when DATABASE_URL is set/);
    expect(() => assertServerConfig(loadConfig({ DATABASE_URL: DB, JWT_SECRET: STRONG }))).not.toThrow();
  });

  it("need no key for the embedded default (it generates one)", () => {
    expect(() => assertServerConfig(loadConfig({}))).not.toThrow();
  });

  it("refuse short or repetitive secrets", () => {
    expect(() => loadConfig({ JWT_SECRET: "secret" })).toThrow(/JWT_SECRET is too short \(6 characters\): use at least 32 random characters/);
    expect(() => loadConfig({ JWT_SECRET: "ab".repeat(20) })).toThrow(/JWT_SECRET is too weak/);
    expect(loadConfig({ JWT_SECRET: STRONG }).jwt.secret).toBe(STRONG);
  });

  it("take an RSA public key of 2048 bits or more, inline or from a file, and never both kinds of key", async () => {
    const pem = rsaPublic(2048);
    expect(loadConfig({ JWT_PUBLIC_KEY: pem }).jwt.publicKey).toBe(pem.trim()); // values are trimmed
    const dir = await mkdtemp(path.join(tmpdir(), "audit-jwt-"));
    try {
      await writeFile(path.join(dir, "key.pem"), pem);
      expect(loadConfig({ JWT_PUBLIC_KEY_FILE: path.join(dir, "key.pem") }).jwt.publicKey).toBe(pem);
      expect(() => loadConfig({ JWT_PUBLIC_KEY_FILE: path.join(dir, "missing.pem") })).toThrow(/JWT_PUBLIC_KEY_FILE: cannot read .*ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => loadConfig({ JWT_PUBLIC_KEY: pem, JWT_SECRET: STRONG })).toThrow(/either JWT_SECRET .* or JWT_PUBLIC_KEY .* not both/);
    expect(() => loadConfig({ JWT_PUBLIC_KEY: "hello" })).toThrow(/not a PEM public key/);
    expect(() => loadConfig({ JWT_PUBLIC_KEY: rsaPublic(1024) })).toThrow(/at least 2048 bits/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(() => loadConfig({ JWT_PUBLIC_KEY: ec })).toThrow(/must be an RSA public key/);
    const priv = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(() => loadConfig({ JWT_PUBLIC_KEY: priv })).toThrow(/holds a private key/);
  });

  it("carry issuer and audience when set", () => {
    expect(loadConfig({ JWT_SECRET: STRONG, JWT_ISSUER: "https://id.example", JWT_AUDIENCE: "audit" }).jwt).toMatchObject({
      issuer: "https://id.example",
      audience: "audit",
    });
  });
});

describe("the embedded default's generated secret", () => {
  it("is created once, kept in the data folder (mode 0600) and reused", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "audit-secret-"));
    try {
      const settings = loadConfig({}).jwt;
      const first = await resolveJwtKey(settings, { embedded: true, dataDir });
      const second = await resolveJwtKey(settings, { embedded: true, dataDir });
      expect(first.source).toBe("generated");
      expect(first.signingSecret).toBe(second.signingSecret);
      expect(first.signingSecret!.length).toBeGreaterThanOrEqual(32);
      expect(first.verifier.algorithm).toBe("HS256");
      const file = path.join(dataDir, GENERATED_SECRET_FILE);
      expect((await readFile(file, "utf8")).trim()).toBe(first.signingSecret);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      // A damaged file is reported, not silently replaced (tokens would all break).
      await writeFile(file, "short\n");
      await expect(resolveJwtKey(settings, { embedded: true, dataDir })).rejects.toThrow(/too short/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("is never generated for DATABASE_URL set-ups", async () => {
    await expect(resolveJwtKey(loadConfig({ DATABASE_URL: DB }).jwt, { embedded: false, dataDir: "/nonexistent" })).rejects.toThrow(/JWT_SECRET/);
    const key = await resolveJwtKey(loadConfig({ DATABASE_URL: DB, JWT_SECRET: STRONG }).jwt, { embedded: false, dataDir: "/nonexistent" });
    expect(key).toMatchObject({ source: "JWT_SECRET", signingSecret: STRONG, verifier: { algorithm: "HS256", key: STRONG } });
    const pem = rsaPublic(2048);
    expect(await resolveJwtKey(loadConfig({ DATABASE_URL: DB, JWT_PUBLIC_KEY: pem }).jwt, { embedded: false, dataDir: "/x" })).toMatchObject({
      source: "JWT_PUBLIC_KEY",
      signingSecret: null,
      verifier: { algorithm: "RS256", key: pem.trim() },
    });
  });
});

describe("production switches", () => {
  it("GraphiQL and introspection are on in development, off with NODE_ENV=production, and switchable", () => {
    expect(loadConfig({})).toMatchObject({ graphiql: true, introspection: true });
    expect(loadConfig({ NODE_ENV: "production" })).toMatchObject({ graphiql: false, introspection: false });
    expect(loadConfig({ GRAPHIQL: "false" })).toMatchObject({ graphiql: false, introspection: true });
    expect(loadConfig({ GRAPHQL_INTROSPECTION: "false" })).toMatchObject({ graphiql: false, introspection: false });
    expect(() => assertServerConfig(loadConfig({ GRAPHIQL: "true", GRAPHQL_INTROSPECTION: "false" }))).toThrow(/GRAPHIQL=true needs GRAPHQL_INTROSPECTION=true/);
  });

  it("limits have defaults and are validated", () => {
    expect(loadConfig({})).toMatchObject({ statementTimeoutMs: 10_000, graphqlMaxDepth: 10, graphqlMaxCost: 5_000, port: 5678 });
    expect(loadConfig({ STATEMENT_TIMEOUT_MS: "2500", GRAPHQL_MAX_COST: "800" })).toMatchObject({ statementTimeoutMs: 2500, graphqlMaxCost: 800 });
    expect(() => loadConfig({ STATEMENT_TIMEOUT_MS: "soon" })).toThrow(/STATEMENT_TIMEOUT_MS must be a whole number between 100 and 600000, got "soon"/);
    expect(() => loadConfig({ GRAPHQL_MAX_DEPTH: "1" })).toThrow(/GRAPHQL_MAX_DEPTH/);
  });

  it("ACCESS_LOG: exports by default, all or off, anything else stops start-up with a message", () => {
    expect(loadConfig({}).accessLog).toBe("exports");
    expect(loadConfig({ ACCESS_LOG: "all" }).accessLog).toBe("all");
    expect(loadConfig({ ACCESS_LOG: " OFF " }).accessLog).toBe("off");
    expect(loadConfig({ ACCESS_LOG: "" }).accessLog).toBe("exports");
    expect(() => loadConfig({ ACCESS_LOG: "reads" })).toThrow(ConfigError);
    expect(() => loadConfig({ ACCESS_LOG: "true" })).toThrow(/^ACCESS_LOG must be exports, all or off \(exports: record exports of the audit log; all: exports and reads; off: nothing\), got "true"$/);
  });

  it("webhooks and detection: defaults, ranges and clear messages", () => {
    expect(loadConfig({})).toMatchObject({
      webhookAllowPrivate: false,
      webhookTimeoutMs: 10_000,
      webhookPollMs: 2_000,
      webhookRetryBaseMs: 30_000,
      detectIntervalMs: 15_000,
    });
    expect(
      loadConfig({
        WEBHOOK_ALLOW_PRIVATE: "true",
        WEBHOOK_TIMEOUT_MS: "120000",
        WEBHOOK_POLL_MS: "50",
        WEBHOOK_RETRY_BASE_MS: "10",
        DETECT_INTERVAL_MS: "86400000",
      }),
    ).toMatchObject({ webhookAllowPrivate: true, webhookTimeoutMs: 120_000, webhookPollMs: 50, webhookRetryBaseMs: 10, detectIntervalMs: 86_400_000 });
    expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: "off", DETECT_INTERVAL_MS: " 100 " })).toMatchObject({ webhookAllowPrivate: false, detectIntervalMs: 100 });
    expect(() => loadConfig({ WEBHOOK_ALLOW_PRIVATE: "maybe" })).toThrow(/^WEBHOOK_ALLOW_PRIVATE must be true or false, got "maybe"$/);
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: "99" })).toThrow(/^WEBHOOK_TIMEOUT_MS must be a whole number between 100 and 120000, got "99"$/);
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: "120001" })).toThrow(ConfigError);
    expect(() => loadConfig({ WEBHOOK_POLL_MS: "2s" })).toThrow(/^WEBHOOK_POLL_MS must be a whole number between 50 and 600000, got "2s"$/);
    expect(() => loadConfig({ WEBHOOK_RETRY_BASE_MS: "3600001" })).toThrow(/^WEBHOOK_RETRY_BASE_MS must be a whole number between 10 and 3600000/);
    expect(() => loadConfig({ DETECT_INTERVAL_MS: "99" })).toThrow(/^DETECT_INTERVAL_MS must be a whole number between 100 and 86400000, got "99"$/);
  });

  it("rollups: a default of one second, a range and a clear message", () => {
    expect(loadConfig({}).rollupIntervalMs).toBe(1_000);
    expect(loadConfig({ ROLLUP_INTERVAL_MS: "60000" }).rollupIntervalMs).toBe(60_000);
    expect(() => loadConfig({ ROLLUP_INTERVAL_MS: "50" })).toThrow(/^ROLLUP_INTERVAL_MS must be a whole number between 100 and 3600000, got "50"$/);
    expect(() => loadConfig({ ROLLUP_INTERVAL_MS: "1m" })).toThrow(ConfigError);
  });

  it("the demo loads on the embedded default, and on DATABASE_URL only with --demo", () => {
    expect(loadConfig({}).demo).toBe(true);
    expect(loadConfig({ DATABASE_URL: DB, JWT_SECRET: STRONG }).demo).toBe(false);
    expect(loadConfig({ DATABASE_URL: DB, JWT_SECRET: STRONG }, ["--demo"]).demo).toBe(true);
  });
});
