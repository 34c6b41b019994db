// The Merkle tree of RFC 9162 (RFC 6962, section 2.1) over leaf hashes
// (leafHash in canonical.ts, in entry id order): interior node =
// sha256(0x01 || left || right), the root of no leaves is sha256(""), the
// root of one leaf is that leaf. It is built level by level, an odd last
// node being promoted unchanged to the next level: the same tree as the
// RFC's recursive split, and the way the SQL side computes it.
import { createHash, hash } from "node:crypto";

const NODE = 32;

function checkLeaves(leaves: readonly Buffer[]): void {
  leaves.forEach((leaf, i) => {
    if (!Buffer.isBuffer(leaf) || leaf.length !== NODE) throw new TypeError(`merkle: leaf ${i} is not a 32-byte hash`);
  });
}

/** The level above `level` (nodes packed 32 bytes each, for speed on large trees). */
function nextLevel(level: Buffer): Buffer {
  const count = level.length / NODE;
  const pairs = Math.floor(count / 2);
  const out = Buffer.allocUnsafe(Math.ceil(count / 2) * NODE);
  const input = Buffer.allocUnsafe(1 + 2 * NODE);
  input[0] = 0x01;
  for (let i = 0; i < pairs; i++) {
    level.copy(input, 1, 2 * i * NODE, (2 * i + 2) * NODE);
    // A string comes back from the binding about twice as fast as a Buffer.
    out.write(hash("sha256", input, "binary"), i * NODE, "binary");
  }
  if (count % 2 === 1) level.copy(out, pairs * NODE, (count - 1) * NODE);
  return out;
}

/** Every level, leaves first, root last. */
function buildLevels(leaves: readonly Buffer[]): Buffer[] {
  checkLeaves(leaves);
  const levels: Buffer[] = [Buffer.concat(leaves, leaves.length * NODE)];
  while (levels.at(-1)!.length > NODE) levels.push(nextLevel(levels.at(-1)!));
  return levels;
}

/** The tree head of `leaves` (32 bytes). */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return createHash("sha256").digest();
  checkLeaves(leaves);
  let level: Buffer = Buffer.concat(leaves, leaves.length * NODE);
  while (level.length > NODE) level = nextLevel(level);
  return level;
}

function pathIn(levels: readonly Buffer[], index: number): Buffer[] {
  const path: Buffer[] = [];
  for (const level of levels.slice(0, -1)) {
    const sibling = index % 2 === 0 ? index + 1 : index - 1; // not index ^ 1: 32-bit only
    // No sibling: the node is promoted, and the RFC's path has no entry for it either.
    if (sibling * NODE < level.length) path.push(Buffer.from(level.subarray(sibling * NODE, (sibling + 1) * NODE)));
    index = Math.floor(index / 2);
  }
  return path;
}

/** Audit paths (RFC 9162, section 2.1.3.1) of several leaves of one tree, building the tree once. */
export function proofsFor(leaves: readonly Buffer[], indexes: readonly number[]): Map<number, Buffer[]> {
  for (const index of indexes) {
    if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
      throw new RangeError(`merkle: leaf index ${index} is outside a tree of ${leaves.length} leaves`);
    }
  }
  const proofs = new Map<number, Buffer[]>();
  if (indexes.length === 0) return proofs;
  const levels = buildLevels(leaves);
  for (const index of indexes) proofs.set(index, pathIn(levels, index));
  return proofs;
}

/** The audit path (RFC 9162, section 2.1.3.1) of leaf `index`, from the leaf up. */
export function inclusionProof(leaves: readonly Buffer[], index: number): Buffer[] {
  return proofsFor(leaves, [index]).get(index)!;
}

function interior(left: Buffer, right: Buffer): Buffer {
  return createHash("sha256").update(Buffer.of(0x01)).update(left).update(right).digest();
}

/**
 * RFC 9162, section 2.1.3.2: does `path` prove `leaf` at `index` in a tree
 * of `size` leaves with head `root`? False (never an exception) for
 * malformed input.
 */
export function verifyInclusion(leaf: Buffer, index: number, size: number, path: readonly Buffer[], root: Buffer): boolean {
  const isNode = (b: unknown) => Buffer.isBuffer(b) && b.length === NODE;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (!isNode(leaf) || !isNode(root) || !Array.isArray(path) || !path.every(isNode)) return false;
  // Plain division, not bit shifts: indexes may exceed 32 bits.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = interior(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = interior(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
