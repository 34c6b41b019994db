// Which keys sign and verify seals: SEAL_PRIVATE_KEY_FILE and
// SEAL_PUBLIC_KEY_FILE, or, for the embedded default only, a key pair
// generated into the data folder on first use. The trusted public keys are
// never read from the database: whoever can edit the database could swap them.
import type { KeyObject } from "node:crypto";
import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import { ensureKeyPair, loadPrivateKey, loadPublicKeys } from "./keys.ts";
import type { SigningKey } from "./sealer.ts";

export interface SealKeys {
  /** The sealing key, when this process has one. */
  signing: SigningKey | null;
  /** Trusted public keys by key id, when configured. */
  publicKeys: Map<string, KeyObject> | null;
  /** Where they came from, for the logs. */
  source: "files" | "data folder" | "none";
}

/** Throws ConfigError with the variable's name when a configured file is unusable. */
export function resolveSealKeys(config: Pick<Config, "databaseUrl" | "dataDir" | "sealPrivateKeyFile" | "sealPublicKeyFile">): SealKeys {
  const wrap = <T>(name: string, load: () => T): T => {
    try {
      return load();
    } catch (err) {
      const message = (err as Error).message;
      throw new ConfigError(message.startsWith(name) ? message : `${name}: ${message}`);
    }
  };
  let privateFile = config.sealPrivateKeyFile;
  let publicFile = config.sealPublicKeyFile;
  let source: SealKeys["source"] = privateFile || publicFile ? "files" : "none";
  if (config.databaseUrl === null && !privateFile && !publicFile) {
    const pair = ensureKeyPair(config.dataDir);
    privateFile = pair.privateKeyFile;
    publicFile = pair.publicKeyFile;
    source = "data folder";
  }
  return {
    signing: privateFile ? wrap("SEAL_PRIVATE_KEY_FILE", () => loadPrivateKey(privateFile)) : null,
    publicKeys: publicFile ? wrap("SEAL_PUBLIC_KEY_FILE", () => loadPublicKeys(publicFile)) : null,
    source,
  };
}
