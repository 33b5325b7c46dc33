import type { z } from 'zod';
import { HpcdkError, NOTHING_WRITTEN } from './hpcdk-error.js';
import { isRuntimeRef } from '../shell/quote.js';

/** One problem with one field of one construct. */
export interface ValidationIssue {
  /** The construct path, e.g. `tinydesk/experiments/train`. */
  readonly path: string;
  /** The field, in dotted form with indexes, e.g. `requirements[2]`; empty for the whole construct. */
  readonly field: string;
  readonly message: string;
  /** The offending value; omitted when there is nothing useful to show. */
  readonly got?: unknown;
  /** Set when the value was absent, so the message can say so rather than print `undefined`. */
  readonly missing?: boolean;
}

const MAX_SHOWN = 80;

function showValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') {
    text = JSON.stringify(value);
  } else if (value === undefined) {
    text = 'nothing';
  } else if (typeof value === 'function') {
    text = 'a function';
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

/** `[stack/path/to/construct] field: what is wrong (got X)` */
export function formatIssue(issue: ValidationIssue): string {
  const field = issue.field === '' ? '' : `${issue.field}: `;
  let got = '';
  if (issue.missing) got = ' (got nothing)';
  else if ('got' in issue) got = ` (got ${showValue(issue.got)})`;
  return `[${issue.path}] ${field}${issue.message}${got}`;
}

/** `requirements[2].name` from zod's `['requirements', 2, 'name']`. */
export function fieldName(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Turns zod's issues into ours, one per offending field. */
export function issuesFromZod(
  constructPath: string,
  error: z.ZodError,
  prefix: ReadonlyArray<PropertyKey> = [],
): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of error.issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: constructPath, field: fieldName([...path, key]), message: 'unknown field' });
      }
      continue;
    }
    const input = (issue as { input?: unknown }).input;
    const missing = input === undefined && issue.code === 'invalid_type';
    // A record key that fails its own checks: zod nests the reason.
    const inner =
      issue.code === 'invalid_key'
        ? (issue as { issues?: Array<{ message: string }> }).issues?.map((i) => i.message).join('; ')
        : undefined;
    out.push({
      path: constructPath,
      field: fieldName(path),
      message: missing ? 'is required' : (inner ?? issue.message),
      ...(missing ? { missing: true } : { got: input }),
    });
  }
  return out;
}

/**
 * What the schemas cannot see in props as written (plain objects, arrays,
 * RuntimeRef path segments): a string holding a NUL, which no script, file
 * or command line can carry (bash would cut the value there), and a key named
 * `__proto__`, which parsing drops without a word.
 */
export function rawPropIssues(constructPath: string, value: unknown, path: PropertyKey[] = []): ValidationIssue[] {
  const nul = (p: PropertyKey[], got: unknown): ValidationIssue => ({
    path: constructPath,
    field: fieldName(p),
    message: 'must not contain a NUL character',
    got,
  });
  if (typeof value === 'string') return value.includes('\0') ? [nul(path, value)] : [];
  if (isRuntimeRef(value)) return value.segments.some((s) => s.includes('\0')) ? [nul(path, value.toString())] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => rawPropIssues(constructPath, v, [...path, i]));
  if (typeof value !== 'object' || value === null) return [];
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return [];
  return Object.entries(value).flatMap(([k, v]): ValidationIssue[] => {
    if (k.includes('\0')) return [nul([...path, k], k)];
    if (k === '__proto__')
      return [
        {
          path: constructPath,
          field: fieldName([...path, k]),
          message: 'may not be named __proto__ (it would be dropped)',
          got: k,
        },
      ];
    return rawPropIssues(constructPath, v, [...path, k]);
  });
}

/**
 * Thrown when synth finds invalid input. It carries every issue found, so the
 * user fixes them all in one round rather than one per run.
 */
export class ValidationError extends HpcdkError {
  public readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[]) {
    const lines = issues.map(formatIssue);
    super(
      `${issues.length} validation error${issues.length === 1 ? '' : 's'}:\n${lines.map((l) => `  ${l}`).join('\n')}`,
      { afterword: NOTHING_WRITTEN },
    );
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** The known name closest to `name`, if it is near enough to be a typo of it. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const dist = distance(name.toLowerCase(), k.toLowerCase());
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** An issue for each key of `props` that is not one of `known`, suggesting the known name it is closest to. */
export function unknownFieldIssues(constructPath: string, props: object, known: readonly string[]): ValidationIssue[] {
  return Object.keys(props)
    .filter((k) => !known.includes(k))
    .map((k) => {
      const near = closestName(k, known);
      return { path: constructPath, field: k, message: `unknown field${near ? `; did you mean ${near}?` : ''}` };
    });
}
