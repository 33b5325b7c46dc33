import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { MANIFEST_FILE } from './manifest.js';
import type { SnapshotFile, StackSynthesis } from './synthesize.js';

/** Temporary folders inside snapshots/ start with this, and are never taken for stacks. */
const TEMP_PREFIX = '.hpcdk-';

/** All files of the syntheses, keyed `<stack>/<target>/<path>`. */
export function snapshotTree(syntheses: readonly StackSynthesis[]): Map<string, SnapshotFile> {
  const tree = new Map<string, SnapshotFile>();
  for (const s of syntheses) {
    for (const [path, file] of s.files) tree.set(`${s.stack}/${s.target}/${path}`, file);
  }
  return tree;
}

async function listFiles(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    .filter((p) => !p.startsWith(TEMP_PREFIX))
    .sort();
}

/** Stack folders under `dir` that hpcdk wrote: those holding `<target>/manifest.json`. */
async function stackFolders(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(TEMP_PREFIX)) continue;
    const targets = await readdir(join(dir, entry.name), { withFileTypes: true });
    if (targets.some((t) => t.isDirectory() && existsSync(join(dir, entry.name, t.name, MANIFEST_FILE))))
      out.push(entry.name);
  }
  return out.sort();
}

export interface WriteOptions {
  /** Also remove stack folders that no stack renders any more (a full synth). */
  readonly prune: boolean;
}

export interface WriteResult {
  readonly written: readonly string[];
  readonly removedStacks: readonly string[];
}

/**
 * Replaces each synthesized stack's folder under `dir` as a whole: the new
 * folder is written beside it, then swapped in with renames, so a reader
 * never sees half a stack and a failure leaves the old folder in place.
 */
export async function writeSnapshots(
  dir: string,
  syntheses: readonly StackSynthesis[],
  options: WriteOptions,
): Promise<WriteResult> {
  await mkdir(dir, { recursive: true });
  await removeLeftovers(dir);
  const token = randomBytes(6).toString('hex');
  const staging = join(dir, `${TEMP_PREFIX}new-${token}`);
  const retired = join(dir, `${TEMP_PREFIX}old-${token}`);
  const byStack = new Map<string, StackSynthesis[]>();
  for (const s of syntheses) byStack.set(s.stack, [...(byStack.get(s.stack) ?? []), s]);
  const written: string[] = [];
  try {
    for (const parts of byStack.values()) {
      for (const [path, file] of snapshotTree(parts)) {
        const target = join(staging, ...path.split('/'));
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, file.content);
        await chmod(target, file.executable ? 0o755 : 0o644);
        written.push(path);
      }
    }
    await mkdir(retired, { recursive: true });
    for (const stack of byStack.keys()) {
      const live = join(dir, stack);
      if (existsSync(live)) await rename(live, join(retired, stack));
      await rename(join(staging, stack), live);
    }
    const removedStacks: string[] = [];
    if (options.prune) {
      for (const stack of await stackFolders(dir)) {
        if (!byStack.has(stack)) {
          await rename(join(dir, stack), join(retired, stack));
          removedStacks.push(stack);
        }
      }
    }
    return { written: written.sort(), removedStacks };
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(retired, { recursive: true, force: true });
  }
}

/** Temporary folders left by a synth that was killed mid-way. */
async function removeLeftovers(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(TEMP_PREFIX)) await rm(join(dir, entry), { recursive: true, force: true });
  }
}

export interface SnapshotDifference {
  /** Files whose content or mode differ, with a unified diff (committed → fresh). */
  readonly changed: ReadonlyArray<{ path: string; diff: string }>;
  /** Files a fresh synth renders that are not committed. */
  readonly added: readonly string[];
  /** Committed files a fresh synth no longer renders. */
  readonly removed: readonly string[];
}

export function isClean(d: SnapshotDifference): boolean {
  return d.changed.length === 0 && d.added.length === 0 && d.removed.length === 0;
}

/**
 * Compares a fresh synth with what is in `dir`, for the given stacks (and,
 * with `wholeTree`, also reports stack folders no stack renders any more).
 */
export async function compareSnapshots(
  dir: string,
  syntheses: readonly StackSynthesis[],
  wholeTree: boolean,
): Promise<SnapshotDifference> {
  const fresh = snapshotTree(syntheses);
  const stacks = new Set(syntheses.map((s) => s.stack));
  if (wholeTree) for (const s of await stackFolders(dir)) stacks.add(s);
  const onDisk = new Set<string>();
  for (const stack of stacks) {
    for (const p of await listFiles(join(dir, stack))) onDisk.add(`${stack}/${p}`);
  }
  const changed: Array<{ path: string; diff: string }> = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [path, file] of [...fresh].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!onDisk.has(path)) {
      added.push(path);
      continue;
    }
    const full = join(dir, ...path.split('/'));
    const committed = await readFile(full, 'utf8');
    const executable = ((await stat(full)).mode & 0o111) !== 0;
    if (committed !== file.content) {
      changed.push({
        path,
        diff: createTwoFilesPatch(`a/${path}`, `b/${path}`, committed, file.content, 'committed', 'fresh synth'),
      });
    } else if (executable !== file.executable) {
      changed.push({
        path,
        diff: `mode of ${path}: ${executable ? '755' : '644'} committed, ${file.executable ? '755' : '644'} rendered\n`,
      });
    }
  }
  for (const path of [...onDisk].sort()) if (!fresh.has(path)) removed.push(path);
  return { changed, added, removed };
}
