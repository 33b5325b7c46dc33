import { createHash } from 'node:crypto';
import stableStringify from 'json-stable-stringify';

/** sha256 of a string or bytes, as lowercase hex. */
export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * Canonical JSON: keys sorted at every depth, so equal values always give
 * equal bytes (and equal hashes) whatever order they were built in.
 */
export function canonicalJson(value: unknown, indent?: number): string {
  const text = stableStringify(value, indent === undefined ? undefined : { space: indent });
  if (text === undefined) {
    throw new TypeError('value cannot be serialised as JSON');
  }
  // Empty containers come out over two lines; JSON strings never hold a raw
  // newline, so collapsing them cannot touch data.
  return indent === undefined ? text : text.replace(/\[\n\s*\]/g, '[]').replace(/\{\n\s*\}/g, '{}');
}

/** The identity hash of a value: sha256 of its canonical JSON. */
export function digestOf(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** The short form of an identity, used where space is tight (job names, comments). */
export function shortId(identity: string): string {
  return identity.slice(0, 12);
}
