import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Job, Secret, Testing } from '../../lib/index.js';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

/** Every file under `dir`, as text, for scanning. */
function allText(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    out += statSync(full).isDirectory() ? allText(full) : `${readFileSync(full, 'latin1')}\n`;
  }
  return out;
}

const stack = (profile?: string) => `import { App, Stack, Job, Secret, ClusterProfile } from 'hpcdk';
void ClusterProfile;
${profile ? `const cluster = ${profile};` : ''}
const app = new App();
const s = new Stack(app, 'demo'${profile ? ', { targets: [cluster] }' : ''});
new Job(s, 'train', {
  allocation: { time: '00:05:00' },
  env: { WANDB_API_KEY: Secret.fromEnv('HPCDK_TEST_WANDB_KEY') },
  run: ['printf "key length %s, sha256 %s\\\\n" "\${#WANDB_API_KEY}" "$(printf %s "$WANDB_API_KEY" | sha256sum | cut -c1-12)"'],
});
`;

describe('secrets', () => {
  it('enter identities and snapshots by name only', () => {
    const s = Testing.stack({}, 'demo');
    new Job(s, 'a', { env: { KEY: Secret.fromEnv('ONE') }, run: ['true'] });
    new Job(s, 'b', { env: { KEY: Secret.fromTargetFile('~/.secrets/aws') }, run: ['true'] });
    const out = Testing.synth(s);
    expect(out.file('a/job.sbatch')).toContain('KEY="$(cat -- "${HPCDK_STACK_DIR}/.hpcdk/secrets/ONE")"\nexport KEY');
    expect(out.file('b/job.sbatch')).toContain('KEY="$(cat -- "${HOME}/.secrets/aws")"');
    expect(out.resource('a', 'job').spec.secrets).toEqual(['ONE']);
  });

  it('never land in snapshots, plans, state or logs; the job reads the value at run time (local target)', async () => {
    const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const dir = makeProject({ 'stacks/demo.ts': stack() });
    const env = { HPCDK_TEST_WANDB_KEY: value };
    const missing = await hpcdk(dir, ['apply', '--yes']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(
      'secret HPCDK_TEST_WANDB_KEY: not set in the environment of this apply (needed by train); nothing was done',
    );

    expect((await hpcdk(dir, ['synth'], env)).exitCode).toBe(0);
    const human = await hpcdk(dir, ['plan'], env);
    const json = await hpcdk(dir, ['plan', '--json', '--out', join(dir, 'saved.plan.json')], env);
    const apply = await hpcdk(dir, ['apply', '--yes'], env);
    expect(apply.exitCode, apply.stderr).toBe(0);
    await waitFor('the job', async () =>
      (await hpcdk(dir, ['status', '--json'])).stdout.includes('"COMPLETED"') ? true : undefined,
    );
    const logs = await hpcdk(dir, ['logs', 'train']);
    const expected = (await import('node:crypto')).createHash('sha256').update(value).digest('hex').slice(0, 12);
    expect(logs.stdout).toBe(`key length ${value.length}, sha256 ${expected}\n`);

    const secretFile = join(dir, '.hpcdk/local/demo/.hpcdk/secrets/HPCDK_TEST_WANDB_KEY');
    expect(readFileSync(secretFile, 'utf8')).toBe(value);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    // Everywhere else: not a trace.
    let scanned = 0;
    for (const [what, text] of [
      ['snapshots', allText(join(dir, 'snapshots'))],
      ['plan', human.stdout + human.stderr],
      ['plan --json', json.stdout],
      ['saved plan', readFileSync(join(dir, 'saved.plan.json'), 'utf8')],
      ['apply output', apply.stdout + apply.stderr],
      ['journal', readFileSync(join(dir, '.hpcdk/local/demo/.hpcdk/journal'), 'utf8')],
      ['logs', allText(join(dir, '.hpcdk/local/demo/logs'))],
      ['deployed files', allText(join(dir, '.hpcdk/local/demo/files'))],
    ] as const) {
      expect(text.includes(value), `the secret is in the ${what}`).toBe(false);
      scanned += 1;
    }
    console.log(
      `secrets: ${scanned} outputs scanned (snapshots, plans, apply output, journal, logs, deployed files), 0 with the value`,
    );
  });

  it('reach a job on the SLURM test cluster through a 0600 file', async (ctx) => {
    const env = clusterEnv(ctx);
    const value = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const profile = testClusterProfile();
    const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
    const dir = makeProject({ 'stacks/demo.ts': stack(profile) });
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG!, HPCDK_TEST_WANDB_KEY: value };
    expect((await hpcdk(dir, ['apply', '--yes'], sshEnv)).exitCode).toBe(0);
    await waitFor(
      'the job',
      async () => ((await hpcdk(dir, ['status', '--json'], sshEnv)).stdout.includes('"COMPLETED"') ? true : undefined),
      60_000,
    );
    expect((await hpcdk(dir, ['logs', 'train'], sshEnv)).stdout).toMatch(
      new RegExp(`^key length ${value.length}, sha256 [0-9a-f]{12}\\n$`),
    );
    expect(await onCluster(env, `stat -c %a ${base}/demo/.hpcdk/secrets/HPCDK_TEST_WANDB_KEY`)).toBe('600');
    expect(await onCluster(env, `grep -rl ${value} ${base}/demo --exclude-dir=secrets || true`)).toBe('');
  });
});
