/**
 * The one module through which every value enters a rendered shell script.
 *
 * Two kinds of value exist:
 * - literal strings, known at synth time: always quoted, so they reach the
 *   program as exactly those bytes, whatever characters they hold;
 * - runtime references (`$SLURM_TMPDIR`, `$HOME`, `$SLURM_ARRAY_TASK_ID`),
 *   expanded on the compute node: typed values rendered as `"${NAME}"`,
 *   never spliced into a string by hand.
 */

const SAFE_BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A variable expanded on the node that runs the script, optionally followed by path segments. */
export class RuntimeRef {
  private constructor(
    public readonly variable: string,
    public readonly segments: readonly string[],
  ) {}

  /** A reference to the environment variable `name`, e.g. `RuntimeRef.env('SLURM_TMPDIR')`. */
  public static env(name: string): RuntimeRef {
    if (!ENV_NAME.test(name)) {
      throw new TypeError(`not an environment variable name: ${JSON.stringify(name)}`);
    }
    return new RuntimeRef(name, []);
  }

  /** This reference joined with literal path segments: `"${SLURM_TMPDIR}/fb_yolo"`. */
  public join(...segments: string[]): RuntimeRef {
    const parts = segments.flatMap((s) => s.split('/')).filter((s) => s !== '' && s !== '.');
    return new RuntimeRef(this.variable, [...this.segments, ...parts]);
  }

  /** The human form, for plans and messages: `$SLURM_TMPDIR/fb_yolo`. */
  public toString(): string {
    return [`$${this.variable}`, ...this.segments].join('/');
  }

  public toJSON(): string {
    return this.toString();
  }

  /** Parses the `toString()` form back: `$NAME/seg/seg`. */
  public static parse(text: string): RuntimeRef | undefined {
    const match = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?((?:\/.*)?)$/.exec(text);
    if (!match) return undefined;
    const ref = RuntimeRef.env(match[1]!);
    return match[2] ? ref.join(match[2]) : ref;
  }
}

export function isRuntimeRef(value: unknown): value is RuntimeRef {
  return value instanceof RuntimeRef;
}

/** A value that can be placed in a script as one word. */
export type ShellValue = string | RuntimeRef;

/**
 * A carriage return, written so no raw CR reaches a rendered file: synth
 * normalises line endings, which would turn a CR inside quotes into a newline
 * (another value) and a CR in a comment into the start of a command.
 */
const CR_WORD = "$'\\r'";

/** Quotes a literal string as one shell word: bare when plainly safe, single-quoted otherwise. */
export function quote(value: string): string {
  if (value !== '' && SAFE_BARE.test(value)) {
    return value;
  }
  return value
    .split('\r')
    .map((part) => `'${part.replace(/'/g, `'\\''`)}'`)
    .join(CR_WORD);
}

/** Escapes text for the inside of a double-quoted string. */
function escapeInDoubleQuotes(value: string): string {
  return value.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** Renders any ShellValue as exactly one shell word. */
export function word(value: ShellValue): string {
  if (typeof value === 'string') return quote(value);
  const tail = value.segments.map((s) => `/${escapeInDoubleQuotes(s)}`).join('');
  return `"\${${value.variable}}${tail.replace(/\r/g, () => `"${CR_WORD}"`)}"`;
}

/** Renders several values as words separated by spaces. */
export function words(values: readonly ShellValue[]): string {
  return values.map(word).join(' ');
}

/** `export NAME=value` with the value quoted; the name must be a valid identifier. */
export function exportLine(name: string, value: ShellValue): string {
  return `export ${assignmentName(name)}=${word(value)}`;
}

/** `NAME=value`, for a local assignment. */
export function assignLine(name: string, value: ShellValue): string {
  return `${assignmentName(name)}=${word(value)}`;
}

function assignmentName(name: string): string {
  if (!ENV_NAME.test(name)) {
    throw new TypeError(`not an environment variable name: ${JSON.stringify(name)}`);
  }
  return name;
}

/** True when `name` can be used as an environment variable name. */
export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}

/**
 * The directive rendered scripts carry after their first line: single-quoted
 * values hold `$` and backticks on purpose (they are literals), which
 * shellcheck would otherwise flag (SC2016).
 */
export const LITERALS_DIRECTIVE = '# shellcheck disable=SC2016 # single-quoted values are literals on purpose';

/**
 * A shell comment line. Newlines inside `text` (and carriage returns, which
 * synth turns into newlines) would end the comment and start a command, so
 * each line of text gets its own `#`.
 */
export function comment(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => (line === '' ? '#' : `# ${line}`))
    .join('\n');
}

/**
 * A command line for rsync's `-e` (the remote shell it runs): rsync splits it
 * on spaces itself, without a shell; single quotes group a word, and a quote
 * doubled inside them is a literal quote.
 */
export function rshCommand(args: readonly string[]): string {
  return args.map((a) => (a !== '' && SAFE_BARE.test(a) ? a : `'${a.replace(/'/g, "''")}'`)).join(' ');
}

/** Base64 text in lines of 76 characters, as `base64 -d` reads it from a here-document. */
export function wrapBase64(base64: string): string {
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 76) lines.push(base64.slice(i, i + 76));
  return lines.join('\n');
}

/** `text` as base64 lines: bytes of any kind carried in a here-document, which no shell expands. */
export function base64Lines(text: string): string {
  return wrapBase64(Buffer.from(text, 'utf8').toString('base64'));
}
