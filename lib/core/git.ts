import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

/** One tracked file at HEAD: its mode, blob hash and path (relative to the folder git ran in). */
export interface TreeEntry {
  readonly mode: string;
  readonly blob: string;
  readonly path: string;
}

function git(cwd: string, args: string[]): Buffer {
  return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
}

/** True when `dir` is inside a git work tree. */
export function isGitRepo(dir: string): boolean {
  try {
    return git(dir, ['rev-parse', '--is-inside-work-tree']).toString().trim() === 'true';
  } catch {
    return false;
  }
}

/** The files under `paths` as committed at HEAD, sorted by path. Content-addressed: blob hashes, not dates. */
export function treeAtHead(dir: string, paths: readonly string[]): TreeEntry[] {
  const out = git(dir, ['ls-tree', '-r', '-z', 'HEAD', '--', ...paths]).toString('utf8');
  return out
    .split('\0')
    .filter((l) => l !== '')
    .map((line) => {
      const tab = line.indexOf('\t');
      const [mode = '', , blob = ''] = line.slice(0, tab).split(' ');
      return { mode, blob, path: line.slice(tab + 1) };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Tracked files under `paths` whose working copy differs from HEAD. */
export function uncommittedChanges(dir: string, paths: readonly string[]): string[] {
  return git(dir, ['status', '--porcelain', '--untracked-files=no', '--', ...paths])
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.slice(3));
}

export function headCommit(dir: string): string {
  return git(dir, ['rev-parse', 'HEAD']).toString('utf8').trim();
}

/** A gzipped tar of `paths` as committed at HEAD; the same commit always gives the same bytes. */
export function archiveAtHead(dir: string, paths: readonly string[]): Buffer {
  return gzipSync(git(dir, ['archive', '--format=tar', 'HEAD', '--', ...paths]), { level: 9 });
}
