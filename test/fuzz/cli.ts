/**
 * Projects for the CLI side of the fault suites: each case gets its own
 * project holding a good stack and the snapshots a synth of it wrote (copied
 * from one synthesized base, so cases can run side by side), and "nothing was
 * written" is checked on everything but stacks/ and node_modules/.
 */
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { hpcdk, makeProject, readTree } from '../helpers/project.js';

/** A valid stack every project starts with. */
export const GOOD_STACK = [
  "import { App, Job, Stack } from 'hpcdk';",
  "new Job(new Stack(new App(), 'good'), 'train', { run: [['python3', 'train.py']], env: { LR: '0.001' } });",
  '',
].join('\n');

/** A project with the good stack, synthesized by the real CLI: the snapshots later cases start from. */
export async function synthesizedBase(): Promise<string> {
  const dir = makeProject({ 'stacks/good.ts': GOOD_STACK }, 'hpcdk-fault-base-');
  const r = await hpcdk(dir, ['synth']);
  expect(r.exitCode, r.stderr).toBe(0);
  return dir;
}

/** A new project with the good stack, `files`, and (given a base) the base's snapshots. */
export function projectWith(files: Record<string, string>, base?: string): string {
  const dir = makeProject({ 'stacks/good.ts': GOOD_STACK, ...files }, 'hpcdk-fault-');
  if (base) cpSync(join(base, 'snapshots'), join(dir, 'snapshots'), { recursive: true });
  return dir;
}

/** Everything in the project but stacks/ and node_modules/, byte for byte. */
export function projectState(dir: string): string {
  const top = readdirSync(dir)
    .filter((n) => n !== 'stacks' && n !== 'node_modules')
    .sort();
  const snapshots = existsSync(join(dir, 'snapshots'))
    ? [...readTree(join(dir, 'snapshots'))].map(([p, c]) => `${p}\0${c}`)
    : [];
  return JSON.stringify([top, snapshots, readFileSync(join(dir, 'package.json'), 'utf8')]);
}

/** Runs `hpcdk synth` in `dir`: it must exit 1 with stderr matching every pattern, and write nothing. */
export async function synthRefuses(dir: string, patterns: ReadonlyArray<string | RegExp>): Promise<string> {
  const before = projectState(dir);
  const r = await hpcdk(dir, ['synth']);
  expect(r.exitCode, r.stderr).toBe(1);
  for (const p of patterns) {
    if (typeof p === 'string') expect(r.stderr).toContain(p);
    else expect(r.stderr).toMatch(p);
  }
  expect(projectState(dir)).toBe(before);
  return r.stderr;
}
