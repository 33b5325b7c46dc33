import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CodeBundle, ContainerImage, ImageBlock, Job, Sweep, Testing } from '../../../lib/index.js';
import type { Entry, PodmanImage, StackInventory, TargetInventory } from '../../../lib/ops/gc/inventory.js';
import type { Manifest } from '../../../lib/synth/manifest.js';
import { ofKind, type ResourceKind } from '../../../lib/core/resource-spec.js';

export const NOW = 1_800_000_000;
export const DAY = 86_400;

/** A git repository holding `code/train.py`, for a code bundle to bundle. */
function repo(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-gc-repo-'));
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.invalid',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.invalid',
  };
  mkdirSync(join(dir, 'code'));
  writeFileSync(join(dir, 'code', 'train.py'), content);
  execFileSync('git', ['init', '-q'], { cwd: dir, env });
  execFileSync('git', ['add', '.'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'code'], { cwd: dir, env });
  return dir;
}

/**
 * The stack the decisions are tested on, rendered for real: an image, a job
 * running in it with a code bundle, a sweep. `version` changes the image's
 * RUN line, so every version has its own tag and job identity.
 */
export function synthStack(version: number, code = 'print(1)\n'): Manifest {
  const stack = Testing.stack({}, 'rsm');
  const image = new ContainerImage(stack, 'image', { from: 'scratch', steps: [ImageBlock.run(`echo v${version}`)] });
  const bundle = new CodeBundle(stack, 'code', { paths: ['code'] });
  new Job(stack, 'train', { image, code: bundle, run: ['python train.py'] });
  new Job(stack, 'eval', { run: ['echo eval'] });
  new Sweep(stack, 'grid', { grid: { lr: [1, 2] }, run: ['echo $lr'] });
  const dir = repo(code);
  try {
    return Testing.synth(stack, { projectDir: dir }).manifest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function resource<K extends ResourceKind>(manifest: Manifest, address: string, kind: K) {
  const r = manifest.resources.find((x) => x.address === address);
  if (!r) throw new Error(`no resource ${address}`);
  return ofKind(r, kind);
}

export const tagOf = (manifest: Manifest) => resource(manifest, 'image', 'container-image').spec.tag;
export const imageOf = (manifest: Manifest) => resource(manifest, 'image', 'container-image').spec.image;
export const contentIdOf = (manifest: Manifest) => resource(manifest, 'code', 'code-bundle').spec.bundle.contentId;

export function entry(path: string, ageDays: number, size = 100): Entry {
  return { path, size, mtime: NOW - ageDays * DAY };
}

/** A podman image as `podman images --format json` describes one hpcdk built. */
export function podmanImage(
  ref: string | undefined,
  address: string,
  ageDays: number,
  labels = true,
  stack = 'rsm',
): PodmanImage {
  return {
    id: `${(ref ?? 'untagged').replace(/[^a-f0-9]/g, '').padEnd(12, 'a')}${ageDays}`.padEnd(64, '0'),
    names: ref ? [ref] : [],
    labels: labels ? { created_by: 'hpcdk', 'hpcdk.stack': stack, 'hpcdk.address': address } : {},
    size: 2_100_000_000,
    created: NOW - ageDays * DAY,
    digest: `sha256:${'d'.repeat(64)}`,
    args: ['--storage-driver', 'vfs'],
  };
}

/** The records a build of `tag` leaves in the stack folder. */
export function built(
  tag: string,
  ageDays: number,
  runner = 'podman',
): { images: Entry[]; records: Array<[string, string]> } {
  const record = entry(`images/image/${tag}.built-with`, ageDays, 60);
  return { images: [record], records: [[record.path, runner]] };
}

export function stackInventory(parts: Partial<StackInventory> = {}): StackInventory {
  return {
    name: 'rsm',
    serial: parts.journal ? parts.journal.split('\n').filter((l) => l.trim() !== '').length : 0,
    journal: '',
    files: [],
    logs: [],
    params: [],
    images: [],
    bundles: [],
    records: new Map(),
    sifSha256: new Map(),
    packageLocks: new Map(),
    jobs: [],
    ...parts,
  };
}

export function targetInventory(
  stacks: StackInventory[],
  podman: PodmanImage[] = [],
  extra: Partial<TargetInventory> = {},
): TargetInventory {
  return { now: NOW, schedulerOk: true, stacks: new Map(stacks.map((s) => [s.name, s])), podman, trash: [], ...extra };
}

/** A `job` journal line as apply writes it. */
export const jobLine = (address: string, identity: string, id: string, ageDays: number) =>
  `job ${address} ${identity} ${id} ${NOW - ageDays * DAY}`;
export const builtLine = (address: string, identity: string, ageDays: number) =>
  `built ${address} ${identity} ${NOW - ageDays * DAY}`;
