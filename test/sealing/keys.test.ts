// The seal keys (src/sealing/keys.ts): key ids, loading keys from PEM files
// with clear errors, the embedded default's generated pair, and signatures.
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.ts";
import { ensureKeyPair, keyIdOf, loadPrivateKey, loadPublicKeys, signSeal, verifySealSignature } from "../../src/sealing/keys.ts";

const dir = mkdtempSync(path.join(tmpdir(), "audit-seal-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileNumber = 0;
function file(text: string): string {
  const f = path.join(dir, `file-${++fileNumber}.pem`);
  writeFileSync(f, text);
  return f;
}
const ed25519 = () => generateKeyPairSync("ed25519");
const publicPem = (k: ReturnType<typeof ed25519>) => k.publicKey.export({ type: "spki", format: "pem" }).toString();
const privatePem = (k: ReturnType<typeof ed25519>) => k.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const HASH = "cf006c882d1b56118645304d0d8fb81706a2287496386ad3654be491163e0793";

describe("keyIdOf", () => {
  it("is the first 16 hex digits of sha256 of the raw public key", () => {
    // RFC 8032, 7.1, test 1: the public key d75a98…511a; sha256 of its 32 bytes computed with Python.
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "hex").toString("base64url") },
      format: "jwk",
    });
    expect(keyIdOf(key)).toBe("21fe31dfa154a261");
  });

  it("is the same for a private key and its public key", () => {
    const k = ed25519();
    expect(keyIdOf(k.privateKey)).toBe(keyIdOf(k.publicKey));
    expect(keyIdOf(k.publicKey)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("loadPrivateKey", () => {
  it("reads a PKCS#8 Ed25519 key and names it", () => {
    const k = ed25519();
    const loaded = loadPrivateKey(file(privatePem(k)));
    expect(loaded.keyId).toBe(keyIdOf(k.publicKey));
    expect(loaded.key.type).toBe("private");
  });

  it("says clearly what is wrong", () => {
    const missing = path.join(dir, "nope.pem");
    expect(() => loadPrivateKey(missing)).toThrow(`SEAL_PRIVATE_KEY_FILE: cannot read ${missing}: ENOENT`);
    expect(() => loadPrivateKey(dir)).toThrow(/cannot read .*: EISDIR/);
    expect(() => loadPrivateKey(file("hello"))).toThrow(/is not a PEM file/);
    expect(() => loadPrivateKey(file(publicPem(ed25519())))).toThrow(/holds a public key/);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(() => loadPrivateKey(file(rsa))).toThrow(/is not an Ed25519 key but RSA \(2048 bits\)/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    expect(() => loadPrivateKey(file(ec))).toThrow(/is not an Ed25519 key but EC/);
    expect(() => loadPrivateKey(file("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))).toThrow(ConfigError);
  });
});

describe("loadPublicKeys", () => {
  it("reads every key of the file, by key id", () => {
    const a = ed25519();
    const b = ed25519();
    const keys = loadPublicKeys(file(`# current\n${publicPem(a)}\n# before the rotation\n${publicPem(b)}`));
    expect([...keys.keys()]).toEqual([keyIdOf(a.publicKey), keyIdOf(b.publicKey)]);
    expect(keys.get(keyIdOf(b.publicKey))!.equals(b.publicKey)).toBe(true);
  });

  it("names the block that is wrong", () => {
    const a = publicPem(ed25519());
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(() => loadPublicKeys(file(a + rsa))).toThrow(/block 2 is not an Ed25519 key but RSA \(2048 bits\)/);
    expect(() => loadPublicKeys(file(privatePem(ed25519())))).toThrow(/block 1 is a "PRIVATE KEY", not a "PUBLIC KEY": give verifiers only public keys/);
    expect(() => loadPublicKeys(file(a + "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))).toThrow(/block 2 is not a readable public key/);
  });

  it("refuses an empty file, or one without PEM", () => {
    expect(() => loadPublicKeys(file(""))).toThrow(/is empty/);
    expect(() => loadPublicKeys(file("  \n"))).toThrow(/is empty/);
    expect(() => loadPublicKeys(file("ssh-ed25519 AAAA"))).toThrow(/holds no PEM block/);
    expect(() => loadPublicKeys(path.join(dir, "nope.pem"))).toThrow(/cannot read .*: ENOENT/);
  });
});

describe("ensureKeyPair", () => {
  it("generates the pair once, with private permissions, and keeps it", () => {
    const keyDir = path.join(dir, "data", "keys"); // created on demand
    const first = ensureKeyPair(keyDir);
    expect(first.created).toBe(true);
    expect(statSync(first.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(statSync(first.publicKeyFile).mode & 0o777).toBe(0o644);
    const privateText = readFileSync(first.privateKeyFile, "utf8");
    const { key, keyId } = loadPrivateKey(first.privateKeyFile);
    expect(loadPublicKeys(first.publicKeyFile).has(keyId)).toBe(true);

    const second = ensureKeyPair(keyDir);
    expect(second).toEqual({ ...first, created: false });
    expect(readFileSync(second.privateKeyFile, "utf8")).toBe(privateText);

    // A lost public key is derived again from the private one.
    unlinkSync(first.publicKeyFile);
    expect(ensureKeyPair(keyDir).created).toBe(false);
    const pub = loadPublicKeys(first.publicKeyFile).get(keyId)!;
    expect(verifySealSignature(HASH, signSeal(HASH, key), pub)).toBe(true);
    expect(statSync(first.publicKeyFile).mode & 0o777).toBe(0o644);
  });

  it("refuses a public key file that does not match the private key", () => {
    const keyDir = path.join(dir, "mismatch");
    const { publicKeyFile } = ensureKeyPair(keyDir);
    writeFileSync(publicKeyFile, publicPem(ed25519()));
    expect(() => ensureKeyPair(keyDir)).toThrow(/does not hold the public key of/);
  });
});

describe("seal signatures", () => {
  const k = ed25519();
  const signature = signSeal(HASH, k.privateKey);

  it("verify with the signer's public key only", () => {
    expect(signature).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(verifySealSignature(HASH, signature, k.publicKey)).toBe(true);
    expect(verifySealSignature(HASH, signature, ed25519().publicKey)).toBe(false);
  });

  it("fail for a changed hash or signature", () => {
    expect(verifySealSignature(HASH.replace(/^c/, "d"), signature, k.publicKey)).toBe(false);
    const bytes = Buffer.from(signature, "base64");
    bytes[10] = bytes[10]! ^ 0x01;
    expect(verifySealSignature(HASH, bytes.toString("base64"), k.publicKey)).toBe(false);
  });

  it("return false, not throw, for malformed input", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    expect(verifySealSignature(HASH, signature, rsa)).toBe(false);
    expect(verifySealSignature("not hex", signature, k.publicKey)).toBe(false);
    expect(verifySealSignature(HASH.toUpperCase(), signature, k.publicKey)).toBe(false);
    expect(verifySealSignature(HASH, "", k.publicKey)).toBe(false);
    expect(verifySealSignature(HASH, signature.slice(0, -4), k.publicKey)).toBe(false);
    expect(verifySealSignature(HASH, "!".repeat(88), k.publicKey)).toBe(false);
    expect(verifySealSignature(null as unknown as string, signature, k.publicKey)).toBe(false);
    expect(verifySealSignature(HASH, signature, null as unknown as ReturnType<typeof ed25519>["publicKey"])).toBe(false);
  });

  it("are made only from a seal hash and an Ed25519 private key", () => {
    expect(() => signSeal("abc", k.privateKey)).toThrow(/64 lowercase hex/);
    expect(() => signSeal(HASH, k.publicKey)).toThrow(/Ed25519 private key/);
  });
});
