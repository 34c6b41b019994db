// The RFC 9162 Merkle tree (src/sealing/merkle.ts): the root equals both the
// RFC's recursive definition and the level-by-level pairing the SQL side
// uses; audit paths equal the RFC's PATH and verify with its algorithm.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { inclusionProof, merkleRoot, proofsFor, verifyInclusion } from "../../src/sealing/merkle.ts";

const sha256 = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
const node = (l: Buffer, r: Buffer) => sha256(Buffer.of(1), l, r);
const leaves = (n: number, salt = "") => Array.from({ length: n }, (_, i) => sha256(Buffer.of(0), Buffer.from(`${salt}entry ${i}`)));

/** RFC 9162, 2.1.1: k is the largest power of two smaller than n. */
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));

function rfcRoot(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = split(d.length);
  return node(rfcRoot(d.slice(0, k)), rfcRoot(d.slice(k)));
}

/** RFC 9162, 2.1.3.1: PATH(m, D[n]). */
function rfcPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k ? [...rfcPath(m, d.slice(0, k)), rfcRoot(d.slice(k))] : [...rfcPath(m - k, d.slice(k)), rfcRoot(d.slice(0, k))];
}

/** As the SQL side does it: pair neighbours, promote an odd last node unchanged. */
function levelRoot(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  let level = d;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? node(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return level[0]!;
}

const flip = (b: Buffer, at = 0) => {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x01;
  return c;
};

describe("merkleRoot", () => {
  it("is sha256('') for no leaves and the leaf itself for one", () => {
    expect(merkleRoot([]).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const [one] = leaves(1);
    expect(merkleRoot([one!]).equals(one!)).toBe(true);
  });

  it("equals the RFC's recursive tree and the level-by-level pairing, n = 1..70", () => {
    for (let n = 1; n <= 70; n++) {
      const d = leaves(n);
      const rfc = rfcRoot(d);
      expect(levelRoot(d).equals(rfc), `level-by-level, n = ${n}`).toBe(true);
      expect(merkleRoot(d).equals(rfc), `merkleRoot, n = ${n}`).toBe(true);
    }
  });

  it("depends on the order of the leaves", () => {
    const d = leaves(5);
    expect(merkleRoot(d).equals(merkleRoot([d[1]!, d[0]!, ...d.slice(2)]))).toBe(false);
  });

  it("refuses leaves that are not 32-byte hashes", () => {
    expect(() => merkleRoot([Buffer.alloc(32), Buffer.alloc(31)])).toThrow(/leaf 1 is not a 32-byte hash/);
  });

  it("handles a million leaves", () => {
    // Leaf i: i as uint32 big-endian, then 28 zero bytes; the root was computed level by level with Python's hashlib.
    const all = Buffer.alloc(32 * 1_000_000);
    const d = Array.from({ length: 1_000_000 }, (_, i) => {
      all.writeUInt32BE(i, 32 * i);
      return all.subarray(32 * i, 32 * i + 32);
    });
    const root = merkleRoot(d);
    expect(root.toString("hex")).toBe("e1d07b22b4a1c622c8f979102df6e8b52f7b73a335be8b5499c4dd79fcb2d5d7");
    // (Its speed is the seal bench's to measure: `npm run bench -- --only seal`, verification of a tenant.)
  });
});

describe("inclusion proofs", () => {
  it("equal the RFC's PATH, and verify, for every leaf of trees of 1..40 leaves", () => {
    for (let n = 1; n <= 40; n++) {
      const d = leaves(n);
      const root = merkleRoot(d);
      const all = proofsFor(d, d.map((_, i) => i));
      for (let i = 0; i < n; i++) {
        const path = all.get(i)!;
        expect(path.map((p) => p.toString("hex")), `n = ${n}, i = ${i}`).toEqual(rfcPath(i, d).map((p) => p.toString("hex")));
        expect(inclusionProof(d, i)).toEqual(path);
        expect(verifyInclusion(d[i]!, i, n, path, root), `n = ${n}, i = ${i}`).toBe(true);
      }
    }
  });

  it("fail for a changed leaf, path, root or index", () => {
    for (let n = 1; n <= 40; n++) {
      const d = leaves(n);
      const root = merkleRoot(d);
      for (let i = 0; i < n; i++) {
        const path = inclusionProof(d, i);
        const leaf = d[i]!;
        expect(verifyInclusion(flip(leaf, 31), i, n, path, root)).toBe(false);
        expect(verifyInclusion(leaf, i, n, path, flip(root, 7))).toBe(false);
        path.forEach((_, j) => {
          const bad = path.map((p, k) => (k === j ? flip(p, j) : p));
          expect(verifyInclusion(leaf, i, n, bad, root)).toBe(false);
        });
        for (let other = 0; other < n; other++) {
          if (other !== i) expect(verifyInclusion(leaf, other, n, path, root), `n = ${n}, ${i} as ${other}`).toBe(false);
        }
        expect(verifyInclusion(leaf, n, n, path, root)).toBe(false);
        if (path.length > 0) {
          expect(verifyInclusion(leaf, i, n, path.slice(0, -1), root)).toBe(false);
        }
        expect(verifyInclusion(leaf, i, n, [...path, root], root)).toBe(false);
      }
    }
  });

  it("return false, not throw, for malformed input", () => {
    const d = leaves(3);
    const root = merkleRoot(d);
    const path = inclusionProof(d, 1);
    expect(verifyInclusion(d[1]!, 1.5, 3, path, root)).toBe(false);
    expect(verifyInclusion(d[1]!, -1, 3, path, root)).toBe(false);
    expect(verifyInclusion(d[1]!, 1, 3, [path[0]!.subarray(1), path[1]!], root)).toBe(false);
    expect(verifyInclusion(d[1]!.subarray(0, 16), 1, 3, path, root)).toBe(false);
  });

  it("are given only for leaves that exist", () => {
    expect(() => inclusionProof(leaves(3), 3)).toThrow(RangeError);
    expect(() => inclusionProof([], 0)).toThrow(/outside a tree of 0 leaves/);
    expect(proofsFor(leaves(3), []).size).toBe(0);
  });

  it("for many leaves of one tree equal the one-by-one proofs", () => {
    const d = leaves(1000, "many");
    const indexes = [0, 1, 511, 512, 998, 999];
    const all = proofsFor(d, indexes);
    for (const i of indexes) expect(all.get(i)).toEqual(inclusionProof(d, i));
  });
});
