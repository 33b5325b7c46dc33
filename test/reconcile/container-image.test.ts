import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { clusterEnv, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/**
 * This machine's podman settings, given to images as their podman options
 * (see TEST-ENVIRONMENT.md): vfs storage and chroot isolation to build, runc
 * to run, and a containers.conf without default ulimits, which this sandbox
 * may not set. None of it is hpcdk's default.
 */
const PODMAN = `{ globalArgs: ['--storage-driver', 'vfs'], buildArgs: ['--isolation', 'chroot'], runArgs: ['--runtime', 'runc'], gpuArgs: [] }`;
const CONTAINERS_CONF = '/tmp/hpcdk-test-containers.conf';
/** A Debian base made with debootstrap, imported once and kept: its tarball under /tmp survives between runs. */
const BASE = 'localhost/hpcdk-test-base:bookworm';
const BASE_TARBALL = '/tmp/hpcdk-test-base-bookworm.tar';

const podman = (...args: string[]) => execa('podman', ['--storage-driver', 'vfs', ...args], { reject: false });

let podmanMissing: string | undefined;

/** The Debian mirror apt uses here, for debootstrap. */
function aptMirror(): string | undefined {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const match =
      /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm\b/m.exec(text);
    if (match) return match[1];
  }
  return undefined;
}

async function ensureBaseImage(): Promise<void> {
  if ((await podman('image', 'exists', BASE)).exitCode === 0) return;
  if (!existsSync(BASE_TARBALL)) {
    const root = mkdtempSync(join(tmpdir(), 'hpcdk-debootstrap-'));
    const mirror = aptMirror();
    const r = await execa('debootstrap', ['--variant=minbase', 'bookworm', root, ...(mirror ? [mirror] : [])], {
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`debootstrap failed: ${r.stderr.slice(-2000)}`);
    // Docs, locales, downloaded packages and package lists are 60% of it; with vfs storage every container copies the rest.
    await execa('bash', [
      '-c',
      'rm -rf -- "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/locale/* "$1"/usr/share/man/*',
      'prune',
      root,
    ]);
    await execa('tar', ['-C', root, '-cf', `${BASE_TARBALL}.tmp`, '.']);
    await execa('mv', ['-f', `${BASE_TARBALL}.tmp`, BASE_TARBALL]);
    rmSync(root, { recursive: true, force: true });
  }
  const imported = await execa('podman', ['--storage-driver', 'vfs', 'import', BASE_TARBALL, BASE], { reject: false });
  if (imported.exitCode !== 0) throw new Error(`podman import failed: ${imported.stderr}`);
}

beforeAll(async () => {
  const version = await execa('podman', ['--version'], { reject: false }).catch(() => undefined);
  if (version?.exitCode !== 0) {
    podmanMissing = 'podman is not installed (apt-get install podman runc debootstrap)';
    return;
  }
  writeFileSync(CONTAINERS_CONF, '[containers]\ndefault_ulimits = []\n');
  await ensureBaseImage();
}, 300_000);

// The images these tests built (vfs keeps a full copy per layer); the cached base stays.
afterAll(async () => {
  if (podmanMissing !== undefined) return;
  const built = (
    await podman('images', '-q', '--filter', 'label=created_by=hpcdk', '--filter', 'label=hpcdk.stack=demo')
  ).stdout
    .split('\n')
    .filter((id) => id !== '');
  if (built.length > 0) await podman('rmi', '-f', ...new Set(built));
  await podman('image', 'prune', '-f', '--filter', 'label=hpcdk.stack=demo');
});

function needPodman(ctx: TestContext): void {
  if (podmanMissing === undefined) return;
  if (process.env.CI) throw new Error(`CI requires podman: ${podmanMissing}`);
  ctx.skip(podmanMissing);
}

function localProject(body: string, files: Record<string, string> = {}): string {
  return makeProject({
    'stacks/demo.ts': `import { App, ClusterProfile, ContainerImage, ImageBlock, Job, RuntimeRef, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo', { targets: [ClusterProfile.local({ containerRuntime: 'podman' })] });
void ImageBlock; void Job; void RuntimeRef;
${body}
`,
    ...files,
  });
}

const lockOf = (dir: string, address: string) =>
  readFileSync(join(dir, '.hpcdk/local/demo/.hpcdk/locks', address, 'lock.txt'), 'utf8');

interface StatusRow {
  address: string;
  status: string;
  exitCode?: number;
}

async function finished(
  dir: string,
  address: string,
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<StatusRow> {
  return waitFor(
    `${address} to finish`,
    async () => {
      const r = await hpcdk(dir, ['status', '--json'], env);
      const row = (JSON.parse(r.stdout) as { resources: StatusRow[] }).resources.find((x) => x.address === address);
      return row && ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(row.status) ? row : undefined;
    },
    timeoutMs,
  );
}

describe('container images built with podman', () => {
  it('GIVEN a two-stage image FROM scratch WHEN applied THEN podman builds it, the file crosses stages, its labels are real, the lock records id and digest, and the next plan has no changes', async (ctx) => {
    needPodman(ctx);
    const dir = localProject(
      `new ContainerImage(s, 'image', {
  stages: [{ name: 'build', from: 'scratch', steps: [ImageBlock.copy('config.yaml', '/stage/config.yaml')] }],
  from: 'scratch',
  steps: [ImageBlock.copyFromStage('build', '/stage/config.yaml', '/config.yaml')],
  labels: { team: 'rl' },
  podman: ${PODMAN},
});`,
      { 'config.yaml': 'lr: 0.1\n' },
    );
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.stdout).toContain('# image will be created (new: will be built with podman build from Dockerfile)');
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    const log = readFileSync(join(dir, '.hpcdk/local/demo/logs/image/build.log'), 'utf8');
    expect(log).toContain(': podman build from Dockerfile');

    const lock = lockOf(dir, 'image');
    expect(lock).toMatch(
      /^built-with: podman build from Dockerfile\nimage: localhost\/hpcdk-demo-image:h[0-9a-f]{16}\nid: sha256:[0-9a-f]{64}\ndigest: sha256:[0-9a-f]{64}\n$/,
    );
    const image = /^image: (.*)$/m.exec(lock)![1]!;
    const labels = JSON.parse(
      (await podman('image', 'inspect', '--format', '{{json .Labels}}', image)).stdout,
    ) as Record<string, string>;
    expect(labels).toMatchObject({ created_by: 'hpcdk', 'hpcdk.stack': 'demo', 'hpcdk.address': 'image', team: 'rl' });
    // The final image holds only what it copied from the build stage; read its filesystem without running it.
    const container = (await podman('create', image, '/none')).stdout.trim();
    const exported = await execa('bash', ['-c', `podman --storage-driver vfs export ${container} | tar -tf -`]);
    const content = await execa('bash', [
      '-c',
      `podman --storage-driver vfs export ${container} | tar -xOf - config.yaml`,
    ]);
    await podman('rm', container);
    expect(exported.stdout.split('\n').filter((f) => f !== '')).toEqual(['config.yaml']);
    expect(content.stdout).toBe('lr: 0.1');

    const again = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(again.exitCode, again.stdout).toBe(0);

    // A changed copied file is a new image: plan says it will be rebuilt.
    writeFileSync(join(dir, 'config.yaml'), 'lr: 0.2\n');
    const changed = await hpcdk(dir, ['plan']);
    expect(changed.stdout).toContain(
      '# image will be updated in place (changed: will be rebuilt with podman build from Dockerfile)',
    );
  }, 120_000);

  it('GIVEN a smoke test that fails WHEN applied THEN the build fails with the test in its log and nothing is recorded; once it passes the image is built', async (ctx) => {
    needPodman(ctx);
    const body = (test: string) =>
      `new ContainerImage(s, 'image', { from: '${BASE}', test: [${JSON.stringify(test)}], podman: ${PODMAN} });`;
    const dir = localProject(body('test -f /etc/no-such-file'));
    const failed = await hpcdk(dir, ['apply', '--yes']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain('the build of image failed on local');
    expect(failed.stderr).toContain('RUN test -f /etc/no-such-file');
    expect(existsSync(join(dir, '.hpcdk/local/demo/.hpcdk/locks/image/lock.txt'))).toBe(false);
    expect((await hpcdk(dir, ['plan'])).stdout).toContain(
      '# image will be created (new: will be built with podman build from Dockerfile)',
    );

    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      readFileSync(join(dir, 'stacks/demo.ts'), 'utf8').replace('/etc/no-such-file', '/etc/debian_version'),
    );
    const passed = await hpcdk(dir, ['apply', '--yes']);
    expect(passed.exitCode, passed.stderr).toBe(0);
  }, 120_000);

  const imageInJob = `
const image = new ContainerImage(s, 'image', {
  from: '${BASE}',
  env: { GREETING: 'it\\'s $5 "each"' },
  workdir: '/opt/app',
  steps: [ImageBlock.run('echo built-in-image > /opt/app/marker', ['sh', '-c', 'test "$GREETING" = "$1"', 'sh', 'it\\'s $5 "each"'])],
  test: ['test "$(cat marker)" = built-in-image'],
  podman: ${PODMAN},
});`;
  const job = `
new Job(s, 'run', {
  image,
  env: { CONTAINERS_CONF: '${CONTAINERS_CONF}', LR: '0.1' },
  run: ['cat /etc/debian_version /opt/app/marker', 'echo "greeting=$GREETING lr=$LR" && touch "$HPCDK_STACK_DIR/from-container"'],
});`;

  it('GIVEN a job in a Debian image on the local target WHEN applied THEN its steps run inside the image to COMPLETED, with the stack folder bound', async (ctx) => {
    needPodman(ctx);
    const dir = localProject(`${imageInJob}${job}`);
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(await finished(dir, 'run', {}, 120_000)).toMatchObject({ status: 'COMPLETED', exitCode: 0 });
    const logs = await hpcdk(dir, ['logs', 'run']);
    expect(logs.stdout).toMatch(/^12\.\d+\nbuilt-in-image\ngreeting=it's \$5 "each" lr=0\.1\n$/);
    expect(existsSync(join(dir, '.hpcdk/local/demo/from-container'))).toBe(true);
  }, 180_000);

  it('GIVEN a GPU job in the image on the SLURM test cluster WHEN applied over SSH THEN the image is built there and the job runs in it to COMPLETED, with GPUs and SLURM_TMPDIR', async (ctx) => {
    needPodman(ctx);
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = makeProject({
      'stacks/demo.ts': `import { App, ClusterProfile, ContainerImage, ImageBlock, Job, Stack } from 'hpcdk';
const cluster = ${testClusterProfile()}.extend('testcluster', { containerRuntime: 'podman' });
const app = new App();
const s = new Stack(app, 'demo', { targets: [cluster] });
${imageInJob}
new Job(s, 'run', {
  image,
  allocation: { partition: 'gpu', time: '00:10:00', gpus: { type: 't4', count: 1 }, mem: '4G' },
  env: { CONTAINERS_CONF: '${CONTAINERS_CONF}' },
  run: ['cat /opt/app/marker && echo "gpus=$CUDA_VISIBLE_DEVICES" && touch "$SLURM_TMPDIR/scratch-ok" && echo scratch-ok'],
});
`,
    });
    const apply = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(await finished(dir, 'run', sshEnv, 120_000)).toMatchObject({ status: 'COMPLETED', exitCode: 0 });
    const logs = await hpcdk(dir, ['logs', 'run'], sshEnv);
    expect(logs.stdout).toMatch(/^built-in-image\ngpus=\d+\nscratch-ok\n$/);
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'], sshEnv)).exitCode).toBe(0);
  }, 180_000);
});
