import fc from 'fast-check';
import stableStringify from 'json-stable-stringify';
import { describe, expect, it } from 'vitest';
import { canonicalJson, digestOf, sha256 } from '../../lib/core/digest.js';

/** What json-stable-stringify makes of a value: its text, or the kind of error it throws. */
function reference(value: unknown): { text?: string; error?: string } {
  try {
    return { text: stableStringify(value) };
  } catch (e) {
    return { error: (e as Error).constructor.name };
  }
}

function ours(value: unknown): { text?: string; error?: string } {
  try {
    return { text: canonicalJson(value) };
  } catch (e) {
    return { error: (e as Error).constructor.name };
  }
}

describe('canonicalJson', () => {
  it('GIVEN any value WHEN written compactly THEN it is byte for byte what json-stable-stringify writes, errors included', () => {
    // Identities stored on targets are digests of this text: it may never drift from the library's.
    const anything = fc.anything({
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
      withBigInt: true,
    });
    let cases = 0;
    fc.assert(
      fc.property(anything, (value) => {
        cases += 1;
        const want = reference(value);
        // The library throws for a top-level value it cannot write; canonicalJson says so with its own TypeError.
        if (want.text === undefined && want.error === undefined) expect(ours(value).error).toBe('TypeError');
        else expect(ours(value)).toEqual(want);
      }),
      { numRuns: 3000 },
    );
    expect(cases).toBe(3000);
  });

  it('GIVEN the shapes json leaves out (functions, symbols, undefined, toJSON, holes) WHEN written THEN they match json-stable-stringify', () => {
    const holes: unknown[] = [1];
    holes[3] = 2;
    const values: unknown[] = [
      { a: undefined, b: () => 1, c: Symbol('s'), d: 1 },
      [undefined, () => 1, Symbol('s'), 1],
      holes,
      { when: new Date(0), custom: { toJSON: () => ({ z: 1, a: [2] }) } },
      { é: 1, e: 2, E: 3, '10': 4, '9': 5, '': 6 },
      { nested: { deeper: [{ b: 1, a: 2 }] } },
      [NaN, Infinity, -0, 1e21, 'line\nbreak', '\u2028'],
    ];
    for (const value of values) expect(canonicalJson(value)).toBe(stableStringify(value));
  });

  it('GIVEN an object inside itself WHEN written THEN it is refused as json-stable-stringify refuses it', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(() => stableStringify(loop)).toThrow(TypeError);
    expect(() => canonicalJson(loop)).toThrow(TypeError);
    // The same object twice, side by side, is no loop.
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe(stableStringify({ a: shared, b: shared }));
  });

  it('GIVEN an indent WHEN written THEN it is json-stable-stringify with empty containers on one line', () => {
    expect(canonicalJson({ b: [], a: {}, c: [1] }, 2)).toBe('{\n  "a": {},\n  "b": [],\n  "c": [\n    1\n  ]\n}');
  });

  it('GIVEN the same value built in another key order WHEN digested THEN the digest is the same', () => {
    expect(digestOf({ a: 1, b: [1, { d: 2, c: 3 }] })).toBe(digestOf({ b: [1, { c: 3, d: 2 }], a: 1 }));
    expect(digestOf({ a: 1 })).toBe(sha256('{"a":1}'));
  });
});
