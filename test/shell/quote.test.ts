import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuntimeRef, comment, exportLine, quote, word } from '../../lib/shell/index.js';

/** Runs a bash script and returns its stdout. */
function bash(script: string, env: Record<string, string> = {}): string {
  return execFileSync('bash', ['-c', script], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
}

const hostile = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    "'",
    '"',
    '$(touch /tmp/pwned)',
    '`id`',
    'a\nb',
    '*',
    '-rf',
    '--help',
    '$HOME',
    '${PATH}',
    '\\',
    'é ü 名前 🚀',
    ';',
    '&& ls',
    '\t',
    "'\"'\"'",
    '!!',
    '~',
  ),
);

describe('quote', () => {
  it('leaves plainly safe words bare and quotes everything else', () => {
    expect(quote('logs/train-1.out')).toBe('logs/train-1.out');
    expect(quote('a b')).toBe("'a b'");
    expect(quote('')).toBe("''");
    expect(quote('-rf')).toBe('-rf');
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote('$HOME')).toBe("'$HOME'");
  });

  it('makes bash see exactly the literal value, for any string (property)', () => {
    // One bash process checks a whole batch, so the property runs many cases quickly.
    fc.assert(
      fc.property(
        fc.array(
          hostile.filter((s) => !s.includes('\0')),
          { minLength: 1, maxLength: 50 },
        ),
        (values) => {
          const script = values.map((v) => `printf '%s\\0' ${quote(v)}`).join('\n');
          const printed = bash(script).split('\0').slice(0, -1);
          expect(printed).toEqual(values);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('RuntimeRef', () => {
  it('renders a reference as a double-quoted expansion, never spliced', () => {
    const ref = RuntimeRef.env('SLURM_TMPDIR').join('fb_yolo', 'images/val');
    expect(word(ref)).toBe('"${SLURM_TMPDIR}/fb_yolo/images/val"');
    expect(ref.toString()).toBe('$SLURM_TMPDIR/fb_yolo/images/val');
    expect(RuntimeRef.parse('$SLURM_TMPDIR/fb_yolo/images/val')).toEqual(ref);
  });

  it('expands the variable on the node but keeps hostile path segments literal (property)', () => {
    const segment = hostile.filter((s) => !s.includes('\0') && !s.includes('/') && s !== '' && s !== '.');
    fc.assert(
      fc.property(
        fc.array(fc.array(segment, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 40 }),
        (paths) => {
          const script = paths
            .map((segments) => `printf '%s\\0' ${word(RuntimeRef.env('SCRATCH').join(...segments))}`)
            .join('\n');
          const printed = bash(script, { SCRATCH: '/node/local' }).split('\0').slice(0, -1);
          expect(printed).toEqual(paths.map((segments) => ['/node/local', ...segments].join('/')));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses names that are not variable names', () => {
    expect(() => RuntimeRef.env('A-B')).toThrow(/not an environment variable name/);
    expect(() => RuntimeRef.env('$(x)')).toThrow(/not an environment variable name/);
  });
});

describe('exportLine and comment', () => {
  it('exports a quoted value and refuses bad names', () => {
    expect(bash(`${exportLine('X', "a'b $(c)")}\nprintf '%s' "$X"`)).toBe("a'b $(c)");
    expect(() => exportLine('X;rm', 'v')).toThrow();
  });

  it('keeps every line of a multi-line comment a comment', () => {
    const text = comment('first\nrm -rf /\n');
    expect(bash(`${text}\nprintf ok`)).toBe('ok');
  });
});
