// The command line of a bench section with options of its own (stream,
// rollups): its name taken out of `--only` (the rest goes on to
// bench/options.ts), and its values checked with one message each.

/** A bad option of a section (run.ts prints its message and the usage). */
export class SectionUsageError extends Error {
  override name = "UsageError";
}

/** A positive whole number (or ≥ 0 with `zero`), named in the error. */
export function wholeNumber(raw: string | undefined, name: string, zero = false): number {
  const n = Number(raw);
  if (raw === undefined || raw.startsWith("--") || !Number.isFinite(n) || n < (zero ? 0 : 1) || Math.round(n) !== n) {
    throw new SectionUsageError(`${name} needs a ${zero ? "whole number" : "positive whole number"}, got "${raw ?? ""}"`);
  }
  return n;
}

/** A value that must be given (not the next option). */
export function requiredValue(raw: string | undefined, name: string): string {
  if (!raw || raw.startsWith("--")) throw new SectionUsageError(`${name} needs a value`);
  return raw;
}

/**
 * The section's name taken out of an `--only` list: whether it was asked
 * for, whether alone, and the list left for the other sections (empty:
 * bench/options.ts selects no section of its own).
 */
export function takeSection(list: string, section: string): { selected: boolean; alone: boolean; others: string } {
  const wanted = list.split(",").map((s) => s.trim()).filter(Boolean);
  const selected = wanted.includes(section);
  const others = wanted.filter((s) => s !== section);
  return { selected, alone: selected && others.length === 0, others: others.join(",") };
}

/** One option of a section: takes its value (if it has one) through `next`, checks it and keeps it. */
export type OptionHandler = (next: () => string | undefined, name: string) => void;

/**
 * Walks the command line: the section's own options go to their handlers,
 * its name is taken out of `--only`; everything else is left, in order, for
 * bench/options.ts.
 */
export function extractSectionArgs(
  argv: readonly string[], section: string, options: Readonly<Record<string, OptionHandler>>,
): { rest: string[]; selected: boolean; alone: boolean } {
  const rest: string[] = [];
  let selected = true;
  let alone = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => argv[++i];
    const handler = Object.hasOwn(options, arg) ? options[arg] : undefined;
    if (handler) {
      handler(next, arg);
    } else if (arg === "--only" && argv[i + 1] !== undefined) {
      const only = takeSection(next()!, section);
      selected = only.selected;
      alone = only.alone;
      rest.push(arg, only.others);
    } else {
      rest.push(arg);
    }
  }
  return { rest, selected, alone };
}
