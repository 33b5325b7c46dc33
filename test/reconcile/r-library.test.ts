import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, onCluster, testClusterProfile } from '../helpers/cluster.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Real R libraries, offline: a local package repository is built here with
 * Debian's R (`R CMD build`, `tools::write_PACKAGES`), as a DRAC site keeps
 * one for nodes without internet. tinypkg 1.1.0 is the repository's current
 * version, 1.0.0 sits in its Archive; both import helperpkg.
 */

interface FixturePackage {
  readonly name: string;
  readonly version: string;
  readonly imports?: string;
  readonly code: string;
  readonly exports: string;
}

const FIXTURES: readonly FixturePackage[] = [
  { name: 'helperpkg', version: '0.2-1', exports: 'helper', code: 'helper <- function() "from helperpkg"\n' },
  {
    name: 'tinypkg',
    version: '1.0.0',
    imports: 'helperpkg',
    exports: 'hello',
    code: 'hello <- function() paste("tinypkg 1.0.0 says hello", helperpkg::helper())\n',
  },
  {
    name: 'tinypkg',
    version: '1.1.0',
    imports: 'helperpkg',
    exports: 'hello',
    code: 'hello <- function() paste("tinypkg 1.1.0 says hello", helperpkg::helper())\n',
  },
];
/** Where each fixture goes: the current version in src/contrib, the older one in the Archive, as on CRAN. */
const ARCHIVED = new Set(['tinypkg_1.0.0.tar.gz']);

let work: string;
let repo: string;
/** This machine's R release, `4.2`: the cluster's login node is this machine. */
let rRelease: string;

async function buildRepository(): Promise<void> {
  const contrib = join(repo, 'src', 'contrib');
  mkdirSync(join(contrib, 'Archive', 'tinypkg'), { recursive: true });
  for (const p of FIXTURES) {
    const parent = join(work, 'src', `${p.name}-${p.version}`);
    const dir = join(parent, p.name);
    mkdirSync(join(dir, 'R'), { recursive: true });
    writeFileSync(
      join(dir, 'DESCRIPTION'),
      `Package: ${p.name}\nVersion: ${p.version}\nTitle: A Fixture\nDescription: A tiny package for hpcdk's tests.\nLicense: MIT\nAuthor: hpcdk\nMaintainer: hpcdk <tests@example.invalid>\n${p.imports ? `Imports: ${p.imports}\n` : ''}`,
    );
    writeFileSync(join(dir, 'NAMESPACE'), `export(${p.exports})\n`);
    writeFileSync(join(dir, 'R', `${p.name}.R`), p.code);
    await execa('R', ['CMD', 'build', '--no-build-vignettes', '--no-manual', p.name], { cwd: parent });
    const tarball = `${p.name}_${p.version}.tar.gz`;
    copyFileSync(
      join(parent, tarball),
      ARCHIVED.has(tarball) ? join(contrib, 'Archive', p.name, tarball) : join(contrib, tarball),
    );
  }
  await execa('Rscript', ['--vanilla', '-e', `tools::write_PACKAGES(${JSON.stringify(contrib)}, type = "source")`]);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hpcdk-rlib-'));
  repo = join(work, 'repo');
  await buildRepository();
  rRelease = (await execa('Rscript', ['-e', 'cat(as.character(getRversion()))'])).stdout
    .split('.')
    .slice(0, 2)
    .join('.');
}, 120_000);

afterAll(() => {
  cleanupProjects();
  if (!process.env.HPCDK_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

interface StatusRow {
  address: string;
  status: string;
  jobId?: string;
}

async function finishedJob(
  dir: string,
  address: string,
  env: Record<string, string>,
  notJob?: string,
): Promise<StatusRow> {
  return waitFor(
    `${address} to finish`,
    async () => {
      const r = await hpcdk(dir, ['status', '--json'], env);
      const row = (JSON.parse(r.stdout) as { resources: StatusRow[] }).resources.find((x) => x.address === address);
      return row && row.jobId !== notJob && ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(row.status)
        ? row
        : undefined;
    },
    60_000,
  );
}

/** An R step: load tinypkg from the job's library and say which R module the job loaded. */
const R_STEP = `['Rscript', '-e', 'library(tinypkg); cat(hello(), "\\\\n"); cat("module r", Sys.getenv("HPCDK_MODULE_R"), "\\\\n")']`;

describe.concurrent('RLibrary builds', { timeout: 240_000 }, () => {
  it('on the SLURM test cluster: GIVEN a login-built library from a local repository WHEN applied THEN it installs the pin, a job loads it to COMPLETED, and drift and bad pins show in plan', async (ctx) => {
    const env = clusterEnv(ctx);
    const sshEnv = { HPCDK_SSH_CONFIG: env.HPCDK_SSH_CONFIG! };
    const profile = testClusterProfile();
    const base = /basePath: "([^"]+)"/.exec(profile)![1]!;
    const stackFile = (tinypkg: string) => `import { App, ClusterProfile, Job, RLibrary, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo', { targets: [${profile}] });
const rlib = new RLibrary(s, 'eval-r', { modules: ['r/4.4.0'], r: ${JSON.stringify(rRelease)}, packages: { tinypkg: ${JSON.stringify(tinypkg)} }, localRepo: ${JSON.stringify(repo)} });
new Job(s, 'eval', { environment: rlib, allocation: { time: '00:05:00' }, run: [${R_STEP}] });
`;
    const dir = makeProject({ 'stacks/demo.ts': stackFile('1.0.0') });
    const stackDir = `${base}/demo`;
    const libDir = `${stackDir}/envs/eval-r`;

    // The pin is older than the repository's current version: installed from the Archive, with its dependency.
    const apply = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    expect(apply.stdout).toContain(`# eval-r will be created (new: will be built with R ${rRelease}.`);
    expect(apply.stdout).toContain(`packages from the local repository ${repo})`);
    expect(apply.stderr).toContain(
      `the R library at ${libDir} is ready: 1 installed, 0 already at their pinned versions`,
    );
    const log = await onCluster(env, `cat ${stackDir}/logs/eval-r/build.log`);
    expect(log).toContain('installing tinypkg 1.0.0\n');
    expect(log).toContain('* DONE (helperpkg)');
    expect(log).toContain('tinypkg 1.0.0 \nhpcdk: smoke check of eval-r passed (loaded tinypkg)');
    expect(await onCluster(env, `cat ${stackDir}/.hpcdk/locks/eval-r/lock.txt`)).toBe(
      'helperpkg==0.2-1\ntinypkg==1.0.0\n# requires helperpkg:\n# requires tinypkg: helperpkg',
    );

    const job = await finishedJob(dir, 'eval', sshEnv);
    const err = (await hpcdk(dir, ['logs', 'eval', '--err'], sshEnv)).stdout;
    expect(job, err).toMatchObject({ status: 'COMPLETED' });
    // The job loaded the R module and found tinypkg in the library.
    expect((await hpcdk(dir, ['logs', 'eval'], sshEnv)).stdout).toBe(
      'tinypkg 1.0.0 says hello from helperpkg \nmodule r 4.4.0 \n',
    );
    const frozen = await onCluster(env, `cat ${stackDir}/logs/eval/frozen/*.txt`);
    expect(frozen).toMatch(/^helperpkg==0\.2-1\ntinypkg==1\.0\.0\n/);

    const again = await hpcdk(dir, ['plan', '--detailed-exitcode'], sshEnv);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('No changes.');

    // Removed by hand: plan re-reads the library and says so.
    await onCluster(env, `rm -rf ${libDir}/tinypkg`);
    const removed = await hpcdk(dir, ['plan'], sshEnv);
    expect(removed.stdout).toContain('Objects have changed outside hpcdk');
    expect(removed.stdout).toContain('eval-r: tinypkg: declared (tinypkg==1.0.0) but not installed');
    expect(removed.stdout).toContain(
      'eval-r: helperpkg==0.2-1: installed, but neither declared nor required by a declared package',
    );

    // The repository's current version: rebuilt with install.packages, and the job that uses it runs again.
    writeFileSync(join(dir, 'stacks/demo.ts'), stackFile('1.1.0'));
    const upgrade = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(upgrade.exitCode, upgrade.stderr + upgrade.stdout).toBe(0);
    expect(upgrade.stdout).toContain('# eval-r will be updated in place (changed: will be rebuilt with R');
    expect(upgrade.stdout).toMatch(/# eval will be submitted \(changed since job \d+ \(COMPLETED\)\)/);
    expect(upgrade.stderr).toContain('is ready: 1 installed, 0 already at their pinned versions');
    const rerun = await finishedJob(dir, 'eval', sshEnv, job.jobId);
    expect(rerun).toMatchObject({ status: 'COMPLETED' });
    expect((await hpcdk(dir, ['logs', 'eval'], sshEnv)).stdout).toBe(
      'tinypkg 1.1.0 says hello from helperpkg \nmodule r 4.4.0 \n',
    );

    // A version the repository does not have: plan shows the library differs from the pin; apply fails naming it and submits nothing.
    writeFileSync(join(dir, 'stacks/demo.ts'), stackFile('9.9.9'));
    const missing = await hpcdk(dir, ['plan'], sshEnv);
    expect(missing.stdout).toContain('eval-r: tinypkg: installed 1.1.0, declared tinypkg==9.9.9');
    const refused = await hpcdk(dir, ['apply', '--yes'], sshEnv);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(
      `tinypkg 9.9.9: the repositories offer 1.1.0, and there is no tarball at file://${repo}/src/contrib/tinypkg_9.9.9.tar.gz`,
    );
    expect(refused.stderr).toContain('hpcdk: tinypkg: declared 9.9.9, installed 1.1.0');
    // The journal still holds the two submissions of eval: nothing was submitted after the failed build.
    const submissions = (await onCluster(env, `cat ${stackDir}/.hpcdk/journal`))
      .split('\n')
      .filter((line) => line.startsWith('job eval '));
    expect(submissions.map((line) => line.split(' ')[3])).toEqual([job.jobId, rerun.jobId]);
  });

  it("on the local target: GIVEN build: 'job' from a file:// repository URL WHEN the job runs THEN it installs the library on node-local disk, smoke-checks it, and records the packages it used", async () => {
    const dir = makeProject({
      'stacks/demo.ts': `import { App, Job, RLibrary, Stack } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'demo');
const rlib = new RLibrary(s, 'eval-r', { packages: ['tinypkg==1.0.0'], repos: [${JSON.stringify(`file://${repo}`)}], build: 'job' });
new Job(s, 'eval', { environment: rlib, run: [${R_STEP}, 'echo "R_LIBS=$R_LIBS"'] });
`,
    });
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr + apply.stdout).toBe(0);
    // Only deployed: the job builds it.
    expect(apply.stdout).toContain('# eval-r will be created (new)\n');
    expect(apply.stderr).not.toContain('building eval-r');
    const stackDir = join(dir, '.hpcdk/local/demo');
    const job = await finishedJob(dir, 'eval', {});
    const out = (await hpcdk(dir, ['logs', 'eval'])).stdout;
    expect(job, out + (await hpcdk(dir, ['logs', 'eval', '--err'])).stdout).toMatchObject({ status: 'COMPLETED' });
    expect(out).toContain('installing tinypkg 1.0.0\n');
    expect(out).toContain('hpcdk: smoke check of eval-r passed (loaded tinypkg)\n');
    expect(out).toContain('tinypkg 1.0.0 says hello from helperpkg \nmodule r  \n');
    // The library lived in the job's node-local folder, not in the stack folder.
    const libs = /^R_LIBS=(\S+)$/m.exec(out)?.[1];
    expect(libs).toMatch(/\/envs\/eval-r$/);
    expect(libs!.startsWith(stackDir)).toBe(false);
    const frozen = readdirSync(join(stackDir, 'logs/eval/frozen'));
    expect(frozen).toHaveLength(1);
    expect(readFileSync(join(stackDir, 'logs/eval/frozen', frozen[0]!), 'utf8')).toBe(
      'helperpkg==0.2-1\ntinypkg==1.0.0\n# requires helperpkg:\n# requires tinypkg: helperpkg\n',
    );
  });
});
