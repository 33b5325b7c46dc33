import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterEnv, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

afterAll(cleanupProjects);

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.invalid',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.invalid',
    },
  }).trim();
}

/** A git project with experiments/v68 committed and a stack whose job runs it from a bundle. */
function gitProject(profile?: string): string {
  const dir = makeProject({ 'stacks/.keep': '' });
  mkdirSync(join(dir, 'experiments/v68'), { recursive: true });
  writeFileSync(join(dir, 'experiments/v68/train.py'), 'print("training v68")\n');
  writeFileSync(join(dir, 'notes.md'), 'not bundled\n');
  writeFileSync(join(dir, '.gitignore'), 'node_modules/\n.hpcdk/\nsnapshots/\n');
  writeFileSync(
    join(dir, 'stacks/demo.ts'),
    `import { App, Stack, Job, CodeBundle, ClusterProfile } from 'hpcdk';
void ClusterProfile;
const app = new App();
const s = new Stack(app, 'demo'${profile ? `, { targets: [${profile}] }` : ''});
const code = new CodeBundle(s, 'code', { paths: ['experiments/v68'] });
new Job(s, 'train', { code, workdir: code.dir, allocation: { time: '00:05:00' }, run: ['python3 experiments/v68/train.py', 'echo "commit=$HPCDK_CODE_COMMIT"'] });
`,
  );
  git(dir, 'init', '-q');
  git(dir, 'add', '.');
  git(dir, 'commit', '-qm', 'v68');
  return dir;
}

describe('code bundles', () => {
  it('run the committed code, record the commit, refuse uncommitted changes, and ignore commits elsewhere', async () => {
    const dir = gitProject();
    const synth = await hpcdk(dir, ['synth']);
    expect(synth.exitCode, synth.stderr).toBe(0);

    writeFileSync(join(dir, 'experiments/v68/train.py'), 'print("edited, not committed")\n');
    const refused = await hpcdk(dir, ['apply', '--yes']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('code bundle code: uncommitted changes in experiments/v68/train.py');
    git(dir, 'checkout', '--', 'experiments/v68/train.py');

    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    await waitFor('the job', async () =>
      (await hpcdk(dir, ['status', '--json'])).stdout.includes('"COMPLETED"') ? true : undefined,
    );
    const head = git(dir, 'rev-parse', 'HEAD');
    expect((await hpcdk(dir, ['logs', 'train'])).stdout).toBe(`training v68\ncommit=${head}\n`);
    expect((await hpcdk(dir, ['logs', 'train', '--err'])).stdout).toContain(`hpcdk: code code at commit ${head}`);

    // A commit that leaves the bundled files alone changes nothing.
    writeFileSync(join(dir, 'notes.md'), 'edited\n');
    git(dir, 'commit', '-qam', 'notes');
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'])).exitCode).toBe(0);

    // A commit that changes them rebuilds the bundle and reruns the job.
    writeFileSync(join(dir, 'experiments/v68/train.py'), 'print("training v69")\n');
    git(dir, 'commit', '-qam', 'v69');
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.stdout).toContain('# code will be updated in place (changed: will be rebuilt)');
    expect(plan.stdout).toContain('# train will be submitted');
  });

  it('GIVEN an applied bundle WHEN a bundled file is edited and not committed THEN plan warns that the jobs run the last commit, and says nothing once it is clean', async () => {
    const dir = gitProject();
    expect((await hpcdk(dir, ['apply', '--yes'])).exitCode).toBe(0);
    writeFileSync(join(dir, 'experiments/v68/train.py'), 'print("edited, not committed")\n');
    const head = git(dir, 'rev-parse', 'HEAD');
    const plan = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    // The bundle is unchanged (it is made from HEAD), so there is nothing to do, but the user is told.
    expect(plan.exitCode).toBe(0);
    expect(plan.stderr).toContain(
      `Warning: code bundle code: experiments/v68/train.py has uncommitted changes; its jobs run commit ${head.slice(0, 7)}. Commit them to run them.`,
    );
    git(dir, 'checkout', '--', 'experiments/v68/train.py');
    expect((await hpcdk(dir, ['plan'])).stderr).not.toContain('uncommitted');
    expect((await hpcdk(dir, ['destroy', '--yes'])).exitCode).toBe(0);
  });

  it('bundles the last commit anyway with --allow-dirty', async () => {
    const dir = gitProject();
    writeFileSync(join(dir, 'experiments/v68/train.py'), 'print("dirty")\n');
    const apply = await hpcdk(dir, ['apply', '--yes', '--allow-dirty']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    await waitFor('the job', async () =>
      (await hpcdk(dir, ['status', '--json'])).stdout.includes('"COMPLETED"') ? true : undefined,
    );
    expect((await hpcdk(dir, ['logs', 'train'])).stdout).toMatch(/^training v68\n/);
  });

  it('refuses paths git does not track, naming the construct', async () => {
    const dir = gitProject();
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      `import { App, Stack, CodeBundle } from 'hpcdk';\nconst app = new App();\nnew CodeBundle(new Stack(app, 'demo'), 'code', { paths: ['experiments/v99'] });\n`,
    );
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      '[demo/code] paths: is not tracked by git at HEAD (commit it first) (got "experiments/v99")',
    );
  });

  it('is unpacked and run on the SLURM test cluster', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const dir = gitProject(testClusterProfile());
    expect((await hpcdk(dir, ['apply', '--yes'], sshEnv)).exitCode).toBe(0);
    await waitFor(
      'the job',
      async () => ((await hpcdk(dir, ['status', '--json'], sshEnv)).stdout.includes('"COMPLETED"') ? true : undefined),
      60_000,
    );
    expect((await hpcdk(dir, ['logs', 'train'], sshEnv)).stdout).toBe(
      `training v68\ncommit=${git(dir, 'rev-parse', 'HEAD')}\n`,
    );
  });
});
