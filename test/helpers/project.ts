import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';

/** The root of this repository. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(REPO, 'bin', 'hpcdk.js');

const made: string[] = [];

/**
 * A throwaway hpcdk project: the given files, and `hpcdk` resolvable from
 * stack files as it is in a user's project that depends on the package.
 */
export function makeProject(files: Record<string, string>, prefix = 'hpcdk-project-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(REPO, join(dir, 'node_modules', 'hpcdk'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** A copy of this repository's tracked project files (stacks, snapshots, package) at a new path. */
export function copyRepo(prefix = 'hpcdk-copy-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  for (const entry of ['package.json', 'stacks', 'snapshots', 'examples']) {
    cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  symlinkSync(join(REPO, 'dist'), join(dir, 'dist'), 'dir');
  // Code bundles are identified by git blob hashes: a new repository holding the same files gives the same ones.
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'copy',
    GIT_AUTHOR_EMAIL: 'copy@example.invalid',
    GIT_COMMITTER_NAME: 'copy',
    GIT_COMMITTER_EMAIL: 'copy@example.invalid',
  };
  execFileSync('git', ['init', '-q'], { cwd: dir, env });
  execFileSync('git', ['add', 'examples', 'stacks', 'package.json'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'copy'], { cwd: dir, env });
  return dir;
}

/**
 * The local jobs a project started that are still alive (runners and their
 * tasks), read from their pid files: `<job>/<pid file>` and the process group.
 */
export function liveLocalJobs(dir: string): Array<{ readonly name: string; readonly group: number }> {
  const base = join(dir, '.hpcdk', 'local');
  const out: Array<{ name: string; group: number }> = [];
  const list = (path: string) => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  };
  for (const stack of list(base)) {
    const queue = join(base, stack, '.hpcdk', 'local-jobs');
    for (const job of list(queue).filter((j) => /^\d+$/.test(j)))
      for (const f of list(join(queue, job)).filter((n) => n === 'pid' || n.startsWith('pid.'))) {
        const group = Number(readFileSync(join(queue, job, f), 'utf8'));
        if (group > 1 && alive(group)) out.push({ name: `${job}/${f}`, group });
      }
  }
  return out;
}

function alive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

export function cleanupProjects(): void {
  if (process.env.HPCDK_TEST_KEEP) return;
  for (const dir of made.splice(0)) {
    // Jobs a test left on the local target are ended first, as a user's destroy would, so nothing writes while the folder goes.
    const groups = liveLocalJobs(dir).map((j) => j.group);
    const signal = (g: number, name: NodeJS.Signals) => {
      try {
        process.kill(-g, name);
      } catch {
        // Gone already.
      }
    };
    for (const g of groups) signal(g, 'SIGTERM');
    const until = Date.now() + 5000;
    while (groups.some(alive) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    for (const g of groups.filter(alive)) signal(g, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `hpcdk` command in `cwd`. */
export async function hpcdk(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await execa('node', [BIN, ...args], {
    cwd,
    reject: false,
    env: { NO_COLOR: '1', ...env },
    stdin: 'ignore',
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `dir`, as relative path → bytes, for byte-for-byte comparisons. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else
        out.set(
          relative(dir, full),
          `${readFileSync(full, 'latin1')}\0mode=${(statSync(full).mode & 0o111) !== 0 ? 'x' : '-'}`,
        );
    }
  };
  walk(dir);
  return out;
}
