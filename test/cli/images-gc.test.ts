import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { clusterEnv, onCluster, ownKey, sessionsWithKey, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** This machine's podman settings (see test/reconcile/container-image.test.ts): vfs storage, chroot builds, runc. */
const PODMAN = `{ globalArgs: ['--storage-driver', 'vfs'], buildArgs: ['--isolation', 'chroot'], runArgs: ['--runtime', 'runc'], gpuArgs: [] }`;
const CONTAINERS_CONF = '/tmp/hpcdk-test-containers.conf';
/** A base of this test's own: the host's sh and cat with their libraries, imported in a second, no network. */
const BASE = `localhost/hpcdk-gc-test-base:${randomBytes(3).toString('hex')}`;
/** A stack name of this file's own: other suites build and clean up images of theirs on the same podman storage. */
const STACK = `gc${randomBytes(3).toString('hex')}`;

const podman = (...args: string[]) => execa('podman', ['--storage-driver', 'vfs', ...args], { reject: false });
let podmanMissing: string | undefined;

beforeAll(async () => {
  const version = await execa('podman', ['--version'], { reject: false }).catch(() => undefined);
  if (version?.exitCode !== 0) {
    podmanMissing = 'podman is not installed (apt-get install podman runc)';
    return;
  }
  writeFileSync(CONTAINERS_CONF, '[containers]\ndefault_ulimits = []\n');
  const root = mkdtempSync(join(tmpdir(), 'hpcdk-gc-root-'));
  const script =
    'for f in /bin/sh /bin/cat $(ldd /bin/sh | grep -o "/[^ ]*"; ldd /bin/cat | grep -o "/[^ ]*"); do cp --parents -L "$f" "$1"; done && mkdir -p "$1/tmp" && tar -C "$1" -c . | podman --storage-driver vfs import - "$2"';
  const made = await execa('bash', ['-c', script, 'base', root, BASE], { reject: false });
  rmSync(root, { recursive: true, force: true });
  if (made.exitCode !== 0) throw new Error(`could not make the base image: ${made.stderr}`);
}, 120_000);

afterAll(async () => {
  if (podmanMissing !== undefined) return;
  const built = (await podman('images', '-q', '--filter', `label=hpcdk.stack=${STACK}`)).stdout
    .split('\n')
    .filter((id) => id !== '');
  if (built.length > 0) await podman('rmi', '-f', ...new Set(built));
  await podman('rmi', '-f', BASE);
});

function needPodman(ctx: TestContext): void {
  if (podmanMissing === undefined) return;
  if (process.env.CI) throw new Error(`CI requires podman: ${podmanMissing}`);
  ctx.skip(podmanMissing);
}

interface StatusRow {
  address: string;
  status: string;
  jobId?: string;
  exitCode?: number;
}
interface ImageRow {
  stack: string;
  address?: string;
  kind: string;
  image: string;
  referenced: boolean;
  labelled: boolean;
  recorded: boolean;
  status: string;
  size: number;
}

async function statusOf(
  dir: string,
  address: string,
  env: Record<string, string> = {},
): Promise<StatusRow | undefined> {
  const r = await hpcdk(dir, ['status', '--json'], env);
  return (JSON.parse(r.stdout) as { resources: StatusRow[] }).resources.find((x) => x.address === address);
}

/** Waits until `address` has a job other than `previous` and it has finished. */
async function finished(
  dir: string,
  address: string,
  env: Record<string, string> = {},
  previous?: string,
): Promise<StatusRow> {
  return waitFor(
    `${address} to finish`,
    async () => {
      const row = await statusOf(dir, address, env);
      return row && row.jobId !== previous && ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(row.status)
        ? row
        : undefined;
    },
    120_000,
  );
}

describe('hpcdk images and gc on the SLURM test cluster', () => {
  it('GIVEN two versions of an image built by apply WHEN images and gc run THEN both are listed, the old one unreferenced, gc removes only it, and the current image still runs a job', async (ctx) => {
    needPodman(ctx);
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const profile = testClusterProfile();
    const stackFile = (
      version: string,
    ) => `import { App, ClusterProfile, ContainerImage, ImageBlock, Job, Stack } from 'hpcdk';
const cluster = ${profile}.extend('testcluster', { containerRuntime: 'podman' });
const app = new App();
const s = new Stack(app, '${STACK}', { targets: [cluster] });
const image = new ContainerImage(s, 'image', { from: '${BASE}', steps: [ImageBlock.run('echo ${version} > /marker')], podman: ${PODMAN} });
new Job(s, 'run', { image, allocation: { partition: 'debug', time: '00:05:00' }, env: { CONTAINERS_CONF: '${CONTAINERS_CONF}' }, run: ['cat /marker'] });
`;
    const dir = makeProject({ [`stacks/${STACK}.ts`]: stackFile('v1') });
    const first = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(first.exitCode, first.stderr).toBe(0);
    const run1 = await finished(dir, 'run', sshEnv);
    expect(run1.status).toBe('COMPLETED');
    writeFileSync(join(dir, `stacks/${STACK}.ts`), stackFile('v2'));
    const second = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(second.exitCode, second.stderr).toBe(0);
    const run2 = await finished(dir, 'run', sshEnv, run1.jobId);
    expect(run2.status).toBe('COMPLETED');

    // One round trip: sshd counts the exec sessions of this test's own key.
    const own = await ownKey(env, dir);
    const before = sessionsWithKey(env, own.fingerprint).sessions;
    const listed = await hpcdk(dir, ['images', '--json'], { HPCDK_SSH_CONFIG: own.config });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(sessionsWithKey(env, own.fingerprint).sessions - before).toBe(1);
    const rows = (JSON.parse(listed.stdout) as { images: ImageRow[] }).images.filter((r) => r.stack === STACK);
    expect(rows.map((r) => [r.kind, r.address, r.referenced, r.labelled, r.recorded, r.status])).toEqual([
      ['podman', 'image', false, true, true, 'unreferenced'],
      ['podman', 'image', true, true, true, 'in use'],
    ]);
    const [oldRef, newRef] = [rows[0]!.image, rows[1]!.image];
    expect(rows.every((r) => r.size > 0)).toBe(true);
    const table = await hpcdk(dir, ['images'], sshEnv);
    expect(table.stdout).toMatch(
      new RegExp(`${STACK} +image +${oldRef.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} .* unreferenced\\n`),
    );

    const gc = await hpcdk(dir, ['gc', '--yes'], sshEnv);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(
      new RegExp(
        `  - image ${oldRef.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(stack ${STACK}, address image, [\\d.]+ [kMG]?B, \\d+ (second|minute)s? old\\): no stack references it`,
      ),
    );
    expect(gc.stdout).toContain(`  = image ${newRef} (stack ${STACK}, address image,`);
    expect(gc.stdout).toContain('GC: 1 to remove, 1 kept.');
    expect(gc.stdout).toContain('GC complete on testcluster: 1 removed');
    expect((await podman('image', 'exists', oldRef)).exitCode).toBe(1);
    expect((await podman('image', 'exists', newRef)).exitCode).toBe(0);
    const records = await onCluster(env, `ls ${profile.match(/basePath: "([^"]+)"/)![1]}/${STACK}/images/image/`);
    expect(records.trim().split('\n')).toEqual([`${newRef.split(':')[1]}.built-with`]);
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'], sshEnv)).exitCode).toBe(0);

    const again = await hpcdk(dir, ['apply', '--yes', '--replace', 'run'], sshEnv);
    expect(again.exitCode, again.stderr).toBe(0);
    const run3 = await finished(dir, 'run', sshEnv, run2.jobId);
    expect(run3).toMatchObject({ status: 'COMPLETED', exitCode: 0 });
    expect((await hpcdk(dir, ['logs', 'run'], sshEnv)).stdout).toBe('v2\n');
    expect((await hpcdk(dir, ['gc', '--yes'], sshEnv)).stdout).toContain('GC: 0 to remove, 1 kept.');
  }, 300_000);
});

describe('hpcdk gc on the local target', () => {
  const stack = `import { App, Job, Stack, Sweep } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'keep');
new Job(s, 'say', { run: ['echo "run $SLURM_JOB_ID"'] });
new Job(s, 'slow', { run: ['sleep 120'] });
new Sweep(s, 'grid', { grid: { x: [1, 2] }, run: ['echo "x=$x"'] });
`;
  const gone = `import { App, Stack, TextFile } from 'hpcdk';
new TextFile(new Stack(new App(), 'gone'), 'note', { content: 'bye\\n' });
`;

  it('GIVEN three runs of a job and one still running WHEN gc --keep-runs 1 and then 0 THEN only the newest run keeps its logs, then none, and the running job keeps its logs throughout', async () => {
    const dir = makeProject({ 'stacks/keep.ts': stack, 'stacks/gone.ts': gone });
    const logs = (address: string) => readdirSync(join(dir, '.hpcdk/local/keep/logs', address)).sort();
    try {
      expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
      let say = await finished(dir, 'say');
      const ids = [say.jobId!];
      for (let i = 0; i < 2; i += 1) {
        const replaced = await hpcdk(dir, ['apply', 'keep', '--yes', '--replace', 'say']);
        expect(replaced.exitCode, replaced.stderr).toBe(0);
        say = await finished(dir, 'say', {}, say.jobId);
        ids.push(say.jobId!);
      }
      await finished(dir, 'grid/x=2');
      const slow = await waitFor('slow to run', async () => {
        const row = await statusOf(dir, 'slow');
        return row?.status === 'RUNNING' ? row : undefined;
      });
      const slowLogs = logs('slow');
      expect(slowLogs.filter((f) => f.includes(slow.jobId!)).length).toBeGreaterThan(0);
      for (const id of ids) expect(logs('say').some((f) => new RegExp(`(^|\\D)${id}\\D`).test(f))).toBe(true);
      unlinkSync(join(dir, 'stacks/gone.ts'));

      const keepOne = await hpcdk(dir, ['gc', '--keep-runs', '1', '--yes']);
      expect(keepOne.exitCode, keepOne.stderr).toBe(0);
      const newest = ids[2]!;
      expect(logs('say').length).toBeGreaterThan(0);
      expect(logs('say').every((f) => new RegExp(`(^|\\D)${newest}\\D`).test(f))).toBe(true);
      expect(keepOne.stdout).toContain(`  - logs of job ${ids[0]} (stack keep, address say,`);
      expect(keepOne.stdout).toContain(`  = logs of job ${newest} (stack keep, address say,`);
      expect(readdirSync(join(dir, '.hpcdk/local/keep/params/grid'))).toEqual([]);
      expect(keepOne.stdout).toContain('  = stack folder gone (stack gone,');
      expect(keepOne.stdout).toContain('name it with --orphans to remove it');

      const keepNone = await hpcdk(dir, ['gc', '--keep-runs', '0', '--yes']);
      expect(keepNone.exitCode, keepNone.stderr).toBe(0);
      expect(existsSync(join(dir, '.hpcdk/local/keep/logs/say')) ? logs('say') : []).toEqual([]);
      expect(logs('slow')).toEqual(slowLogs);
      expect(keepNone.stdout).toContain(`  = logs of job ${slow.jobId} (stack keep, address slow,`);
      expect(keepNone.stdout).toContain('the job is pending or running');
      expect((await statusOf(dir, 'slow'))?.status).toBe('RUNNING');

      const refused = await hpcdk(dir, ['gc', 'gone', '--target', 'local', '--yes']);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain('--orphans');
      const orphan = await hpcdk(dir, ['gc', 'gone', '--orphans', '--target', 'local', '--yes']);
      expect(orphan.exitCode, orphan.stderr).toBe(0);
      expect(orphan.stdout).toContain('  - stack folder gone (stack gone,');
      expect(existsSync(join(dir, '.hpcdk/local/gone'))).toBe(false);
      expect(existsSync(join(dir, '.hpcdk/local/keep'))).toBe(true);
    } finally {
      await hpcdk(dir, ['destroy', 'keep', '--yes']);
    }
  }, 180_000);

  it('GIVEN no --yes and no terminal WHEN gc has something to remove THEN it refuses and removes nothing', async () => {
    const dir = makeProject({
      'stacks/keep.ts': `import { App, Job, Stack } from 'hpcdk';\nnew Job(new Stack(new App(), 'keep'), 'say', { run: ['echo hi'] });\n`,
    });
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    const first = await finished(dir, 'say');
    expect((await hpcdk(dir, ['apply', '--yes', '--replace', 'say'])).exitCode).toBe(0);
    await finished(dir, 'say', {}, first.jobId);
    const before = readdirSync(join(dir, '.hpcdk/local/keep/logs/say')).sort();
    const r = await hpcdk(dir, ['gc', '--keep-runs', '1']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('GC: 1 to remove, 1 kept.');
    expect(r.stderr).toContain('gc asks for confirmation, and stdin is not a terminal: pass --yes');
    expect(readdirSync(join(dir, '.hpcdk/local/keep/logs/say')).sort()).toEqual(before);
  }, 60_000);
});
