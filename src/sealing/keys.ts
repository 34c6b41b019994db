// The Ed25519 keys that sign seals: the sealer's private key, the public
// keys verifiers accept (several, so that seals signed before a rotation
// still verify), and the pair the embedded default keeps in its data folder.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../config.ts";

export const PRIVATE_KEY_FILE = "seal-private-key.pem";
export const PUBLIC_KEY_FILE = "seal-public-key.pem";

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const SHA256_HEX = /^[0-9a-f]{64}$/;
// An Ed25519 signature is 64 bytes: 86 base64 digits and "==".
const SIGNATURE_B64 = /^[A-Za-z0-9+/]{86}==$/;

function describeType(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? "unknown";
  const bits = key.asymmetricKeyDetails?.modulusLength;
  return bits ? `${type.toUpperCase()} (${bits} bits)` : type.toUpperCase();
}

/** First 16 hex digits of sha256 of the raw 32-byte public key: names the key in each seal. */
export function keyIdOf(publicKey: KeyObject): string {
  const pub = publicKey.type === "private" ? createPublicKey(publicKey) : publicKey;
  if (pub.asymmetricKeyType !== "ed25519") throw new TypeError(`keyIdOf: expected an Ed25519 key, got ${describeType(pub)}`);
  const raw = Buffer.from(pub.export({ format: "jwk" }).x!, "base64url");
  return createHash("sha256").update(raw).digest("hex").slice(0, 16);
}

function readText(file: string, variable: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** The sealer's Ed25519 private key (PEM, PKCS#8, unencrypted) and its key id. */
export function loadPrivateKey(file: string): { key: KeyObject; keyId: string } {
  const where = `SEAL_PRIVATE_KEY_FILE: ${file}`;
  const text = readText(file, "SEAL_PRIVATE_KEY_FILE");
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (label === undefined) throw new ConfigError(`${where} is not a PEM file ("-----BEGIN PRIVATE KEY-----" ...)`);
  if (label === "PUBLIC KEY") throw new ConfigError(`${where} holds a public key; the sealer needs the private key`);
  if (label === "ENCRYPTED PRIVATE KEY") throw new ConfigError(`${where} is encrypted; give an unencrypted PKCS#8 key`);
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (err) {
    throw new ConfigError(`${where} is not a readable PEM private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new ConfigError(`${where} is not an Ed25519 key but ${describeType(key)}; seals are signed with Ed25519 (openssl genpkey -algorithm ed25519)`);
  }
  return { key, keyId: keyIdOf(key) };
}

/** Every Ed25519 public key of a PEM file ("-----BEGIN PUBLIC KEY-----" blocks), by key id. */
export function loadPublicKeys(file: string): Map<string, KeyObject> {
  const where = `SEAL_PUBLIC_KEY_FILE: ${file}`;
  const text = readText(file, "SEAL_PUBLIC_KEY_FILE");
  if (text.trim() === "") throw new ConfigError(`${where} is empty; expected one or more "-----BEGIN PUBLIC KEY-----" blocks`);
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new ConfigError(`${where} holds no PEM block; expected "-----BEGIN PUBLIC KEY-----" ...`);
  const keys = new Map<string, KeyObject>();
  blocks.forEach(([pem, label], i) => {
    const block = `${where}: block ${i + 1}`;
    if (label !== "PUBLIC KEY") {
      const hint = /PRIVATE/.test(label!) ? ": give verifiers only public keys" : "";
      throw new ConfigError(`${block} is a "${label}", not a "PUBLIC KEY"${hint}`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new ConfigError(`${block} is not a readable public key (${(err as Error).message})`);
    }
    if (key.asymmetricKeyType !== "ed25519") throw new ConfigError(`${block} is not an Ed25519 key but ${describeType(key)}`);
    keys.set(keyIdOf(key), key); // the same key twice is harmless
  });
  return keys;
}

/**
 * Writes `file` whole or not at all, through a temporary file in the same
 * folder. Without `overwrite`, an existing file wins (false is returned).
 */
function writeAtomically(file: string, text: string, mode: number, overwrite: boolean): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, text, { mode, flag: "wx" });
  chmodSync(temp, mode); // the umask filters writeFile's mode; these modes are meant exactly
  try {
    if (overwrite) {
      renameSync(temp, file);
      return true;
    }
    // link(), unlike rename(), fails if another process created the file meanwhile: a key never replaces one in use.
    try {
      linkSync(temp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
  } finally {
    if (existsSync(temp)) unlinkSync(temp);
  }
}

/**
 * The embedded default's key pair in `dir`, generated on first use; a missing
 * public key is derived again from the private one. `created`: the private
 * key was generated now.
 */
export function ensureKeyPair(dir: string): { privateKeyFile: string; publicKeyFile: string; created: boolean } {
  const privateKeyFile = path.join(dir, PRIVATE_KEY_FILE);
  const publicKeyFile = path.join(dir, PUBLIC_KEY_FILE);
  mkdirSync(dir, { recursive: true });
  let created = false;
  if (!existsSync(privateKeyFile)) {
    const { privateKey } = generateKeyPairSync("ed25519");
    created = writeAtomically(privateKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), 0o600, false);
  }
  const { key, keyId } = loadPrivateKey(privateKeyFile);
  if (!existsSync(publicKeyFile)) {
    writeAtomically(publicKeyFile, createPublicKey(key).export({ type: "spki", format: "pem" }).toString(), 0o644, true);
  } else if (!loadPublicKeys(publicKeyFile).has(keyId)) {
    // Seals signed now would not verify with the published key.
    throw new ConfigError(`${publicKeyFile} does not hold the public key of ${privateKeyFile} (key id ${keyId})`);
  }
  return { privateKeyFile, publicKeyFile, created };
}

/** Base64 Ed25519 signature over the 32 raw bytes of a seal hash (lowercase hex). */
export function signSeal(sealHashHex: string, key: KeyObject): string {
  if (!SHA256_HEX.test(sealHashHex)) throw new TypeError("signSeal: the seal hash must be 64 lowercase hex digits");
  if (key.type !== "private" || key.asymmetricKeyType !== "ed25519") throw new TypeError("signSeal: expected an Ed25519 private key");
  return sign(null, Buffer.from(sealHashHex, "hex"), key).toString("base64");
}

/** True when `signatureB64` is `key`'s signature of the seal hash; false for any malformed input. */
export function verifySealSignature(sealHashHex: string, signatureB64: string, key: KeyObject): boolean {
  if (typeof sealHashHex !== "string" || !SHA256_HEX.test(sealHashHex)) return false;
  if (typeof signatureB64 !== "string" || !SIGNATURE_B64.test(signatureB64)) return false;
  try {
    if (key.asymmetricKeyType !== "ed25519") return false;
    return verify(null, Buffer.from(sealHashHex, "hex"), key, Buffer.from(signatureB64, "base64"));
  } catch {
    return false;
  }
}
