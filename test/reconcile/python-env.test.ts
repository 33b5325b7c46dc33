import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Real environment builds, offline: tiny packages are built into wheels
 * here (there is no PyPI), and environments install them with
 * `--no-index --find-links`, as on a DRAC compute node.
 */

interface FixturePackage {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: readonly string[];
}

const FIXTURES: readonly FixturePackage[] = [
  { name: 'alpha', version: '1.0.0', dependencies: ['beta==2.0.0'] },
  { name: 'alpha', version: '1.1.0', dependencies: ['beta==2.0.0'] },
  { name: 'beta', version: '2.0.0' },
  { name: 'gamma', version: '0.1.0' },
  { name: 'delta', version: '3.0.0' },
];

let work: string;
let wheels: string;

/** Builds every fixture package into a wheel in `wheels` with Debian's pip, offline. */
async function buildFixtureWheels(): Promise<void> {
  await Promise.all(
    FIXTURES.map(async (p) => {
      const dir = join(work, 'src', `${p.name}-${p.version}`);
      mkdirSync(join(dir, p.name), { recursive: true });
      const deps = (p.dependencies ?? []).map((d) => JSON.stringify(d)).join(', ');
      writeFileSync(
        join(dir, 'pyproject.toml'),
        `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "${p.name}"\nversion = "${p.version}"\ndependencies = [${deps}]\n`,
      );
      writeFileSync(join(dir, p.name, '__init__.py'), `__version__ = "${p.version}"\n`);
      await execa(
        '/usr/bin/python3',
        ['-m', 'pip', 'wheel', '--no-index', '--no-build-isolation', '--no-deps', '--quiet', '-w', wheels, dir],
        {
          env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' },
        },
      );
    }),
  );
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hpcdk-pyenv-'));
  wheels = join(work, 'wheels');
  mkdirSync(wheels);
  await buildFixtureWheels();
}, 60_000);

afterAll(() => {
  cleanupProjects();
  if (!process.env.HPCDK_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

/** A stack with one PythonEnv from the fixture wheels and one Job that uses it. */
function localStack(opts: { alpha?: string; build?: string } = {}): string {
  return `import { App, Job, PythonEnv, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo');
const py = new PythonEnv(s, 'py', {
  interpreter: '/usr/bin/python3',
  tool: 'virtualenv',
  noDownload: true,
  noIndex: true,
  findLinks: [${JSON.stringify(wheels)}],
  requirements: ['alpha==${opts.alpha ?? '1.0.0'}'],
  pipOnly: ['delta==3.0.0'],
  smoke: { imports: ['alpha', 'delta'], versions: ['alpha'] },
  build: '${opts.build ?? 'login'}',
});
new Job(s, 'use', { environment: py, run: ['python -c "import alpha, sys; print(alpha.__version__, sys.prefix)"'] });
`;
}

interface StatusRow {
  address: string;
  status: string;
  exitCode?: number;
}

async function waitForJob(dir: string, address: string, env: Record<string, string> = {}): Promise<StatusRow> {
  return waitFor(
    `${address} to finish`,
    async () => {
      const r = await hpcdk(dir, ['status', '--json'], env);
      const row = (JSON.parse(r.stdout) as { resources: StatusRow[] }).resources.find((x) => x.address === address);
      return row && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(row.status) ? row : undefined;
    },
    45_000,
  );
}

// The three builds are independent projects: run them side by side to keep the suite short.
describe.concurrent('PythonEnv builds', { timeout: 150_000 }, () => {
  it('on the local target: GIVEN an env built on the login node WHEN applied THEN it is built, smoke-checked, locked; drift and changes show in plan', async () => {
    const dir = makeProject({ 'stacks/demo.ts': localStack() });
    const stackDir = join(dir, '.hpcdk/local/demo');
    const envPython = join(stackDir, 'envs/py/bin/python');

    // apply prints the plan it carries out.
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    expect(apply.stdout).toContain('# py will be created (new: will be built)');
    const log = readFileSync(join(stackDir, 'logs/py/build.log'), 'utf8');
    expect(log).toContain(`hpcdk: creating the Python environment at ${join(stackDir, 'envs/py')}`);
    expect(log).toContain('hpcdk: installed 1 pip-only package without dependencies');
    // The smoke check ran after the build and printed the version.
    expect(log).toContain('alpha 1.0.0');
    expect(log).toContain('hpcdk: smoke check of py passed (imported alpha, delta)');
    const lock = readFileSync(join(stackDir, '.hpcdk/locks/py/lock.txt'), 'utf8');
    expect(lock).toMatch(/^alpha==1\.0\.0$/m);
    expect(lock).toMatch(/^beta==2\.0\.0$/m);
    expect(lock).toMatch(/^delta==3\.0\.0$/m);
    expect(lock).toContain('# requires alpha: beta');
    // Where each package came from, from pip's install report.
    expect(lock).toContain(`# source alpha==1.0.0: file://${wheels}/alpha-1.0.0-py3-none-any.whl`);
    expect(lock).toContain(`# source delta==3.0.0: file://${wheels}/delta-3.0.0-py3-none-any.whl`);

    const job = await waitForJob(dir, 'use');
    expect(job).toMatchObject({ status: 'COMPLETED' });
    expect((await hpcdk(dir, ['logs', 'use'])).stdout).toBe(`1.0.0 ${join(stackDir, 'envs/py')}\n`);

    const again = await hpcdk(dir, ['plan', '--detailed-exitcode']);
    expect(again.exitCode, again.stdout).toBe(0);
    expect(again.stdout).toContain('No changes.');

    // By hand: a package nobody declared, another version of a declared one, a declared one removed.
    const pip = (args: string[]) => execa(envPython, ['-m', 'pip', '--disable-pip-version-check', ...args]);
    await pip(['install', '--no-index', '--find-links', wheels, 'gamma==0.1.0', 'alpha==1.1.0']);
    await pip(['uninstall', '--yes', 'delta']);
    // Plan re-runs the env's lock command in its read, so it sees the env as it is now.
    const drift = await hpcdk(dir, ['plan']);
    expect(drift.stdout).toContain('Objects have changed outside hpcdk');
    expect(drift.stdout).toContain('py: alpha: installed 1.1.0, declared alpha==1.0.0');
    expect(drift.stdout).toContain('py: delta: declared (delta==3.0.0) but not installed');
    expect(drift.stdout).toContain(
      'py: gamma==0.1.0: installed, but neither declared nor required by a declared package',
    );
    // beta is alpha's dependency: not drift.
    expect(drift.stdout).not.toMatch(/py: beta/);

    // A changed requirement: the env is rebuilt and the job that uses it runs again.
    writeFileSync(join(dir, 'stacks/demo.ts'), localStack({ alpha: '1.1.0' }));
    const reapply = await hpcdk(dir, ['apply', '--yes']);
    expect(reapply.exitCode, reapply.stderr).toBe(0);
    expect(reapply.stdout).toContain('# py will be updated in place (changed: will be rebuilt)');
    expect(reapply.stdout).toMatch(/# use will be submitted \(changed since job \d+ \(COMPLETED\)\)/);
    expect(readFileSync(join(stackDir, 'logs/py/build.log'), 'utf8')).toContain(
      'hpcdk: updating the Python environment at',
    );
    expect(readFileSync(join(stackDir, '.hpcdk/locks/py/lock.txt'), 'utf8')).toMatch(/^alpha==1\.1\.0$/m);
    await waitFor(
      'the resubmitted job',
      async () => ((await hpcdk(dir, ['logs', 'use'])).stdout.startsWith('1.1.0 ') ? true : undefined),
      45_000,
    );
  });

  it("on the local target: GIVEN a wheelhouse gathered by apply and build: 'job' WHEN the job runs THEN it builds the env offline on node-local disk and completes", async () => {
    // Seed 001: the project's wheel and its dependencies are gathered on the login node; the job installs with --no-index.
    const dir = makeProject({
      'stacks/demo.ts': `import { App, Job, PythonEnv, Stack, Wheelhouse } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo');
const wheels = new Wheelhouse(s, 'wheels', {
  interpreter: '/usr/bin/python3',
  projects: [${JSON.stringify(join(work, 'src', 'alpha-1.0.0'))}],
  requirements: ['delta==3.0.0'],
  noIndex: true,
  findLinks: [${JSON.stringify(wheels)}],
  noBuildIsolation: true,
});
const py = new PythonEnv(s, 'py', {
  interpreter: '/usr/bin/python3', tool: 'virtualenv', noDownload: true, noIndex: true, findLinks: [wheels],
  requirements: ['alpha==1.0.0'], pipOnly: ['delta==3.0.0'], smoke: { imports: ['alpha', 'delta'], versions: ['alpha'] }, build: 'job',
});
new Job(s, 'use', { environment: py, run: ['python -c "import alpha, sys; print(alpha.__version__, sys.prefix)"'] });
`,
    });
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    // apply gathers the wheelhouse; the env itself is only deployed: the job builds it.
    expect(apply.stdout).toContain('# wheels will be created (new: will be built)');
    expect(apply.stdout).toContain('# py will be created (new)\n');
    expect(apply.stderr).toContain('building wheels');
    expect(apply.stderr).not.toContain('building py');
    const stackDir = join(dir, '.hpcdk/local/demo');
    expect(readFileSync(join(stackDir, '.hpcdk/locks/wheels/lock.txt'), 'utf8')).toBe(
      'alpha-1.0.0-py3-none-any.whl\nbeta-2.0.0-py3-none-any.whl\ndelta-3.0.0-py3-none-any.whl\n',
    );
    expect(readdirSync(stackDir)).not.toContain('envs');
    const job = await waitForJob(dir, 'use');
    const out = (await hpcdk(dir, ['logs', 'use'])).stdout;
    expect(job, out + (await hpcdk(dir, ['logs', 'use', '--err'])).stdout).toMatchObject({ status: 'COMPLETED' });
    expect(out).toMatch(/hpcdk: creating the Python environment at \/\S+\/envs\/py\n/);
    expect(out).toContain('hpcdk: smoke check of py passed');
    // The run recorded the packages it used next to its logs (seed 004).
    const frozen = readdirSync(join(stackDir, 'logs/use/frozen'));
    expect(frozen).toHaveLength(1);
    expect(readFileSync(join(stackDir, 'logs/use/frozen', frozen[0]!), 'utf8')).toBe(
      'alpha==1.0.0\nbeta==2.0.0\ndelta==3.0.0\n',
    );
    // The env lived in the job's node-local folder, not in the stack folder.
    const prefix = /^1\.0\.0 (\S+)$/m.exec(out)?.[1];
    expect(prefix).toMatch(/\/envs\/py$/);
    expect(prefix!.startsWith(stackDir)).toBe(false);
  });

  it('on the SLURM test cluster: GIVEN lmod modules and a wheel folder WHEN applied THEN apply builds one env on the login node and a job builds one per node; both jobs complete', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const common = `interpreter: '/usr/bin/python3', tool: 'virtualenv', noDownload: true, noIndex: true, modules: ['python/3.11.5', 'gcc'],
  findLinks: [${JSON.stringify(wheels)}], requirements: ['alpha==1.0.0'], smoke: { imports: ['alpha'], versions: ['alpha'] }`;
    const dir = makeProject({
      'stacks/demo.ts': `import { App, ClusterProfile, Job, PythonEnv, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo', { targets: [${testClusterProfile()}] });
const login = new PythonEnv(s, 'login-env', { ${common} });
const perNode = new PythonEnv(s, 'node-env', { ${common}, build: 'per-node' });
new Job(s, 'on-login-env', { environment: login, allocation: { time: '00:05:00' }, run: ['python -c "import alpha; print(alpha.__version__)"', 'echo "python=$HPCDK_MODULE_PYTHON"'] });
new Job(s, 'on-node-env', { environment: perNode, allocation: { time: '00:05:00', nodes: 1 }, run: ['python -c "import alpha, sys; print(alpha.__version__, sys.prefix)"'] });
`,
    });
    const apply = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    for (const address of ['on-login-env', 'on-node-env']) {
      const row = await waitForJob(dir, address, sshEnv);
      const err = (await hpcdk(dir, ['logs', address, '--err'], sshEnv)).stdout;
      expect(row, err).toMatchObject({ status: 'COMPLETED' });
    }
    // The fake python module set PYTHON_VERSION: modules were loaded in the job.
    expect((await hpcdk(dir, ['logs', 'on-login-env'], sshEnv)).stdout).toMatch(/^1\.0\.0\npython=3\.11\.5\n$/);
    const nodeOut = (await hpcdk(dir, ['logs', 'on-node-env'], sshEnv)).stdout;
    expect(nodeOut).toContain('hpcdk: smoke check of node-env passed');
    expect(nodeOut).toMatch(/^1\.0\.0 \/\S+\/envs\/node-env$/m);
    const again = await hpcdk(dir, ['plan', '--detailed-exitcode'], sshEnv);
    expect(again.exitCode, again.stdout).toBe(0);
  });
});
