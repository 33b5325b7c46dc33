import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App } from '../core/app.js';
import { collectDuring } from '../core/registry.js';
import type { ClusterProfile } from '../core/cluster-profile.js';
import type { Stack } from '../core/stack.js';
import { ValidationError } from '../core/validation.js';
import { HpcdkError, NOTHING_WRITTEN } from '../core/hpcdk-error.js';
import { compileStacks } from './compiled-stacks.js';

/** The folder of stack files inside a project. */
export const STACKS_DIR = 'stacks';

/** A stack and the file that declared it. */
export interface LoadedStack {
  readonly stack: Stack;
  /** Relative to the project, e.g. `stacks/tinydesk.ts`. */
  readonly file: string;
}

export interface LoadedProject {
  readonly dir: string;
  readonly stacks: readonly LoadedStack[];
  /** Every ClusterProfile the stack files made, declared by a stack or not: what `--target` may name. */
  readonly profiles: readonly ClusterProfile[];
}

/** A stack file that could not be loaded, with where it went wrong. */
export class StackLoadError extends HpcdkError {
  constructor(
    message: string,
    public readonly file: string,
    public readonly location: string | undefined,
  ) {
    super(message, { afterword: NOTHING_WRITTEN });
    this.name = 'StackLoadError';
  }
}

let registered = false;

/** Lets Node import TypeScript stack files directly: no build step for users. */
async function registerTypeScript(): Promise<void> {
  if (registered) return;
  const esm = await import('tsx/esm/api');
  const cjs = await import('tsx/cjs/api');
  esm.register();
  cjs.register();
  registered = true;
}

/** `stacks/*.ts`, sorted, without declaration files. */
export async function findStackFiles(projectDir: string): Promise<string[]> {
  const dir = join(projectDir, STACKS_DIR);
  if (!existsSync(dir)) return [];
  const names = await readdir(dir);
  return names
    .filter((n) => /\.(ts|mts|cts)$/.test(n) && !/\.d\.[mc]?ts$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** The first frame of `error` inside the project (not node_modules), as `file:line:col`. */
function locate(error: unknown, projectDir: string, fallbackFile: string): string | undefined {
  const text = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
  // esbuild counts columns from 0, stack traces and editors from 1.
  const compileError = error instanceof Error && /ERROR: /.test(error.message);
  const pattern = /((?:file:\/\/)?\/[^\s():]+\.[cm]?[tj]sx?):(\d+):(\d+)/g;
  for (const match of text.matchAll(pattern)) {
    const raw = match[1]!;
    const path = raw.startsWith('file://') ? fileURLToPath(raw) : raw;
    if (path.includes(`${'/'}node_modules${'/'}`)) continue;
    const rel = relative(projectDir, path);
    if (rel.startsWith('..')) continue;
    return `${rel}:${match[2]}:${compileError ? Number(match[3]) + 1 : match[3]}`;
  }
  return relative(projectDir, fallbackFile);
}

function describe(error: unknown): string {
  if (error instanceof ValidationError) return error.message;
  if (error instanceof Error) {
    // esbuild's message already names file:line; keep its first error line.
    const esbuild = /ERROR: (.+)/.exec(error.message);
    if (esbuild) return `does not compile: ${esbuild[1]}`;
    return `${error.name}: ${error.message}`;
  }
  return String(error);
}

/**
 * Loads every stack file of the project and returns the stacks they declare.
 * A file that throws or does not compile fails the load with its location.
 */
export async function loadProject(projectDir: string): Promise<LoadedProject> {
  const dir = resolve(projectDir);
  // Everything a stack file imports from hpcdk, loaded before the TypeScript hooks
  // are: modules loaded after them all pass through the hooks, which costs far more.
  await import('../index.js');
  const files = await findStackFiles(dir);
  const compiled = await compileStacks(dir, files).catch(() => undefined);
  if (compiled?.modules) {
    const modules = compiled.modules;
    try {
      const project = await evaluateStackFiles(dir, files, (file) => modules.get(file)!);
      compiled.keep();
      return project;
    } catch {
      // Loaded again below through tsx, which reports the error against the stack file's own lines.
      compiled.drop();
    }
  }
  await registerTypeScript();
  try {
    const project = await evaluateStackFiles(dir, files, (file) => pathToFileURL(file).href);
    // A project the cache stands aside for: remember that, so the next load goes to tsx at once.
    if (compiled && !compiled.modules) compiled.keep();
    return project;
  } catch (e) {
    if (compiled && !compiled.modules) compiled.drop();
    throw e;
  }
}

/** Runs each stack file (the module `urlOf` gives for it) and gathers the stacks and profiles it makes. */
async function evaluateStackFiles(
  dir: string,
  files: readonly string[],
  urlOf: (file: string) => string,
): Promise<LoadedProject> {
  const stacks: LoadedStack[] = [];
  const profiles: ClusterProfile[] = [];
  for (const file of files) {
    const rel = relative(dir, file);
    let apps: App[];
    try {
      const found = await collectDuring(async () => {
        await import(urlOf(file));
      });
      apps = found.apps.filter(App.isApp);
      profiles.push(...(found.profiles as ClusterProfile[]));
    } catch (error) {
      const where = locate(error, dir, file);
      throw new StackLoadError(`${where}: ${describe(error)}`, rel, where);
    }
    for (const app of apps) {
      for (const stack of app.stacks) stacks.push({ stack, file: rel });
    }
  }
  const byName = new Map<string, LoadedStack>();
  for (const loaded of stacks) {
    const other = byName.get(loaded.stack.stackName);
    if (other) {
      throw new StackLoadError(
        `${loaded.file}: stack ${loaded.stack.stackName} is also declared in ${other.file}; stack names must be unique`,
        loaded.file,
        undefined,
      );
    }
    byName.set(loaded.stack.stackName, loaded);
  }
  return { dir, stacks: [...stacks].sort((a, b) => (a.stack.stackName < b.stack.stackName ? -1 : 1)), profiles };
}

/** The stacks named in `names` (all when empty); an unknown name is an error listing the known ones. */
export function selectStacks(project: LoadedProject, names: readonly string[]): LoadedStack[] {
  if (names.length === 0) return [...project.stacks];
  const known = new Map(project.stacks.map((s) => [s.stack.stackName, s]));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    const list = [...known.keys()].join(', ') || 'none';
    throw new Error(`no stack named ${unknown.join(', ')} (stacks: ${list})`);
  }
  return names.map((n) => known.get(n)!);
}
