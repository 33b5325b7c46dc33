import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterProfile, Dataset, Job, Testing } from '../../lib/index.js';
import { clusterEnv, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { lintScript } from '../helpers/shellcheck.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** A project with a zipped dataset beside it, and a stack that stages it and reads it in a job. */
function projectWithData(profile?: string): string {
  const dir = makeProject({ 'stacks/.keep': '' });
  const data = join(dir, 'data', 'fb_yolo', 'insects');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'labels.json'), '{"n": 3}\n');
  execFileSync('zip', ['-q', '-r', '../fb_yolo.zip', '.'], { cwd: join(dir, 'data', 'fb_yolo') });
  writeFileSync(
    join(dir, 'stacks/demo.ts'),
    `import { App, Stack, Job, Dataset, ClusterProfile } from 'hpcdk';
void ClusterProfile;
const app = new App();
const s = new Stack(app, 'demo'${profile ? `, { targets: [${profile}] }` : ''});
const data = new Dataset(s, 'fb-yolo', { source: ${JSON.stringify(join(dir, 'data', 'fb_yolo.zip'))} });
new Job(s, 'eval', { stage: [data], allocation: { time: '00:05:00' }, run: [['cat', data.path.join('insects/labels.json')], 'echo "staged under $HPCDK_SCRATCH"'] });
`,
  );
  return dir;
}

describe('Dataset', () => {
  it('renders a staging script that passes shellcheck, once per node on multi-node jobs', () => {
    const cluster = new ClusterProfile('drac', {
      scheduler: 'slurm',
      ssh: { host: 'narval' },
      scratchVar: 'SLURM_TMPDIR',
    });
    const stack = Testing.stack({ targets: [cluster] }, 'exp');
    const data = new Dataset(stack, 'fb-yolo', {
      source: '/home/me/scratch/fb_data/fb_yolo.zip',
      sha256: 'a'.repeat(64),
    });
    new Job(stack, 'one', { stage: [data], run: ['true'] });
    new Job(stack, 'many', { stage: [data], allocation: { nodes: 4 }, run: ['true'] });
    const out = Testing.synth(stack);
    const stage = out.file('fb-yolo/stage.sh');
    expect(stage).toContain('unzip -q -o "$src" -d "$dest"');
    expect(stage).toContain('dest="${HPCDK_SCRATCH}/fb-yolo"');
    expect(lintScript(stage)).toBe('');
    expect(out.file('one/job.sbatch')).toContain('bash "${HPCDK_STACK_DIR}/files/fb-yolo/stage.sh"');
    expect(out.file('one/job.sbatch')).toContain(
      'export HPCDK_SCRATCH="${SLURM_TMPDIR:?node-local scratch $SLURM_TMPDIR is not set on this node}"',
    );
    expect(out.file('many/job.sbatch')).toContain(
      'srun --ntasks="${SLURM_NNODES}" --ntasks-per-node=1 bash "${HPCDK_STACK_DIR}/files/fb-yolo/stage.sh"',
    );
    expect(out.resource('one').dependsOn).toEqual(['fb-yolo']);
  });

  it('refuses a destination that leaves node-local scratch', () => {
    const stack = Testing.stack({}, 'exp');
    new Dataset(stack, 'bad', { source: '/x.zip', destination: '../../etc' });
    expect(() => Testing.synth(stack)).toThrow(
      /\[exp\/bad\] destination: must stay inside node-local scratch \(got "\.\.\/\.\.\/etc"\)/,
    );
  });

  it('is staged to the node-local folder of a job on the local target', async () => {
    const dir = projectWithData();
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    await waitFor('the job', async () =>
      (await hpcdk(dir, ['status', '--json'])).stdout.includes('"COMPLETED"') ? true : undefined,
    );
    const out = (await hpcdk(dir, ['logs', 'eval'])).stdout;
    expect(out).toMatch(
      /^hpcdk: staged \/.*\/fb_yolo\.zip to (\/tmp\/tmp\.\w+)\/fb-yolo on .*\n\{"n": 3\}\nstaged under \1\n$/,
    );
  });

  it('is staged to $SLURM_TMPDIR on the SLURM test cluster', async (ctx) => {
    const env = clusterEnv(ctx);
    const dir = projectWithData(testClusterProfile());
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    expect((await hpcdk(dir, ['apply', '--yes'], sshEnv)).exitCode).toBe(0);
    await waitFor(
      'the job',
      async () => ((await hpcdk(dir, ['status', '--json'], sshEnv)).stdout.includes('"COMPLETED"') ? true : undefined),
      60_000,
    );
    const out = (await hpcdk(dir, ['logs', 'eval'], sshEnv)).stdout;
    expect(out).toContain('{"n": 3}');
    expect(out).toContain(`staged under ${env.HPCDK_SCRATCH_DIR}/`);
  });
});
