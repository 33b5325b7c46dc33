import crypto, { createHash } from 'node:crypto';
import stableStringify from 'json-stable-stringify';

// One-shot hashing (Node 20.12+) is three times faster than a Hash object for the
// small values synth digests by the thousand.
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;

/** sha256 of a string or bytes, as lowercase hex. */
export function sha256(content: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', content, 'hex') : createHash('sha256').update(content).digest('hex');
}

/**
 * Canonical JSON: keys sorted at every depth, so equal values always give
 * equal bytes (and equal hashes) whatever order they were built in.
 * Indented text (snapshots, plan files) is json-stable-stringify's; the
 * compact text every digest is taken of comes from compactJson, which a
 * property test holds byte for byte equal to it.
 */
export function canonicalJson(value: unknown, indent?: number): string {
  const text = indent === undefined ? compactJson(value, []) : stableStringify(value, { space: indent });
  if (text === undefined) {
    throw new TypeError('value cannot be serialised as JSON');
  }
  // Empty containers come out over two lines; JSON strings never hold a raw
  // newline, so collapsing them cannot touch data.
  return indent === undefined ? text : text.replace(/\[\n\s*\]/g, '[]').replace(/\{\n\s*\}/g, '{}');
}

/**
 * json-stable-stringify's compact output, written for speed: synth takes a
 * digest of every resource, and of every input of every sweep point, and the
 * library's general path (replacers, comparators) costs four times as much.
 * Same rules: toJSON first; undefined, functions and symbols left out of
 * objects and written as null in arrays; an object inside itself refused.
 */
function compactJson(value: unknown, ancestors: object[]): string | undefined {
  let node = value;
  if (node !== null && typeof node === 'object' && typeof (node as { toJSON?: unknown }).toJSON === 'function')
    node = (node as { toJSON: () => unknown }).toJSON();
  if (typeof node !== 'object' || node === null) return JSON.stringify(node);
  if (Array.isArray(node)) {
    // A loop, not map: a hole in a sparse array is written as null too.
    const items: string[] = [];
    for (let i = 0; i < node.length; i++) items.push(compactJson(node[i], ancestors) ?? 'null');
    return `[${items.join(',')}]`;
  }
  if (ancestors.includes(node)) throw new TypeError('Converting circular structure to JSON');
  ancestors.push(node);
  const record = node as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const text = compactJson(record[key], ancestors);
    if (text) members.push(`${JSON.stringify(key)}:${text}`);
  }
  ancestors.pop();
  return `{${members.join(',')}}`;
}

/** The identity hash of a value: sha256 of its canonical JSON. */
export function digestOf(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** The short form of an identity, used where space is tight (job names, comments). */
export function shortId(identity: string): string {
  return identity.slice(0, 12);
}
