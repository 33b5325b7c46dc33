import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  formatIssue,
  Job,
  RLibrary,
  RuntimeRef,
  Testing,
  ValidationError,
  type Stack,
} from '../../lib/index.js';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

const drac = new ClusterProfile('narval', {
  scheduler: 'slurm',
  ssh: { host: 'narval' },
  partitions: { cpu: { maxTime: '1-00:00:00' } },
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
  scratchVar: 'SLURM_TMPDIR',
});

function stack(): Stack {
  return Testing.stack({ targets: [drac] }, 'exp');
}

/** The problems synth refuses the stack for, as users see them. */
function errorsOf(s: Stack): string[] {
  const thrown = (() => {
    try {
      Testing.synth(s);
      return undefined;
    } catch (e) {
      return e;
    }
  })();
  if (!(thrown instanceof ValidationError)) throw new Error(`expected a ValidationError, got ${String(thrown)}`);
  return thrown.issues.map(formatIssue);
}

afterAll(() => cleanupProjects());

describe('RLibrary validation', () => {
  it('GIVEN versions that are not versions and names that are not R package names WHEN synthesized THEN each is reported at its key with the construct path', () => {
    const s = stack();
    new RLibrary(s, 'rec', {
      packages: {
        'data.table': 'latest',
        ggplot2: '1.2; rm -rf /',
        'not a name': '1.0',
        '1abc': '1.0',
        'ends.': '1.0',
        scales: '1',
      },
      repos: ['https://cran.example.invalid'],
    });
    new RLibrary(s, 'list', {
      packages: ['optparse', 'magrittr==2.0.3', 'magrittr==2.0.1', 'x==1.0', 'data.table==$(touch pwned)'],
      localRepo: '/srv/rrepo',
    });
    expect(errorsOf(s)).toEqual([
      '[exp/rec] packages.data.table: must be an R package version such as 1.14.8 or 7.3-60 (got "latest")',
      '[exp/rec] packages.ggplot2: must be an R package version such as 1.14.8 or 7.3-60 (got "1.2; rm -rf /")',
      '[exp/rec] packages.not a name: must be an R package name such as data.table (letters, digits and dots, starting with a letter) (got "not a name")',
      '[exp/rec] packages.1abc: must be an R package name such as data.table (letters, digits and dots, starting with a letter) (got "1abc")',
      '[exp/rec] packages.ends.: must be an R package name such as data.table (letters, digits and dots, starting with a letter) (got "ends.")',
      '[exp/rec] packages.scales: must be an R package version such as 1.14.8 or 7.3-60 (got "1")',
      `[exp/list] packages[0]: must pin a version as name==version (e.g. 'data.table==1.14.8') (got "optparse")`,
      '[exp/list] packages[2]: names magrittr again (first at [1]) (got "magrittr==2.0.1")',
      '[exp/list] packages[3]: must be an R package name such as data.table (letters, digits and dots, starting with a letter) (got "x==1.0")',
      '[exp/list] packages[4]: must be an R package version such as 1.14.8 or 7.3-60 (got "data.table==$(touch pwned)")',
    ]);
  });

  it('GIVEN no source, both sources, a ~ path, a bad R version and an empty package list WHEN synthesized THEN each rule is reported', () => {
    const s = stack();
    new RLibrary(s, 'none', { packages: { optparse: '1.7.5' } });
    new RLibrary(s, 'both', {
      packages: { optparse: '1.7.5' },
      repos: ['https://cran.example.invalid'],
      localRepo: '/srv/rrepo',
    });
    new RLibrary(s, 'tilde', { packages: { optparse: '1.7.5' }, localRepo: '~/rrepo', r: '4.x' });
    new RLibrary(s, 'empty', { packages: {}, repos: ['ftp://cran.example.invalid'], modules: ['r 4.3'] });
    new RLibrary(s, 'scratch', {
      packages: { optparse: '1.7.5' },
      repos: ['https://cran.example.invalid'],
      location: RuntimeRef.env('SLURM_TMPDIR').join('R'),
    });
    expect(errorsOf(s)).toEqual([
      '[exp/none] repos: needs repos (repository URLs) or localRepo (a local repository of source tarballs) (got nothing)',
      '[exp/both] localRepo: give either repos or localRepo, not both (got "/srv/rrepo")',
      '[exp/tilde] r: must be an R version such as 4.3 or 4.3.1 (got "4.x")',
      `[exp/tilde] localRepo: must be an absolute path, a path below a variable ('$HOME/rrepo') or a RuntimeRef (got "~/rrepo")`,
      '[exp/empty] modules[0]: must be a module name such as python/3.11.5 (got "r 4.3")',
      '[exp/empty] packages: declares no packages (got {})',
      '[exp/empty] repos[0]: must be an http(s):// or file:// URL (got "ftp://cran.example.invalid")',
      `[exp/scratch] location: a login-built library cannot live in job scratch; use build: 'job' (got "$SLURM_TMPDIR/R")`,
    ]);
  });

  it('GIVEN a stack file with a bad RLibrary WHEN hpcdk synth runs THEN it exits 1 naming the construct and writes nothing', async () => {
    const dir = makeProject({
      'stacks/bad.ts': `import { App, RLibrary, Stack, TextFile } from 'hpcdk';
const app = new App();
const s = new Stack(app, 'bad');
new TextFile(s, 'notes', { content: 'fine\\n' });
new RLibrary(s, 'eval-r', { packages: { 'data.table': 'latest' }, repos: ['https://cran.example.invalid'] });
`,
    });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      '[bad/eval-r] packages.data.table: must be an R package version such as 1.14.8 or 7.3-60 (got "latest")',
    );
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);
  });
});

describe('RLibrary rendering and identity', () => {
  it('GIVEN the same pins as a record and as a list, in any order WHEN rendered THEN the files and the identity are the same', () => {
    const render = (packages: Record<string, string> | string[]) => {
      const s = stack();
      new RLibrary(s, 'rlib', { modules: ['r/4.3.1'], packages, localRepo: '$HOME/rrepo' });
      return Testing.synth(s);
    };
    const a = render({ scales: '1.3.0', 'data.table': '1.14.8' });
    const b = render(['data.table==1.14.8', 'scales==1.3.0']);
    expect(a.file('rlib/packages.txt')).toBe(
      '# exp/rlib: pinned R packages (rendered by hpcdk).\ndata.table==1.14.8\nscales==1.3.0\n',
    );
    expect(b.files).toEqual(a.files);
    expect(b.resource('rlib').identity).toBe(a.resource('rlib').identity);
    // A changed pin changes the identity, and only the packages input.
    const c = render({ scales: '1.3.0', 'data.table': '1.15.0' });
    expect(c.resource('rlib').identity).not.toBe(a.resource('rlib').identity);
    const changed = Object.keys(c.resource('rlib').inputs).filter(
      (k) => c.resource('rlib').inputs[k] !== a.resource('rlib').inputs[k],
    );
    expect(changed).toEqual(['packages']);
  });

  it('GIVEN a login-built library WHEN rendered THEN apply builds it with a describe step, a smoke check and a lock, and plan compares the pins', () => {
    const s = stack();
    new RLibrary(s, 'rlib', {
      modules: ['gcc', 'r/4.3.1'],
      r: '4.3',
      packages: { optparse: '1.7.5', magrittr: '2.0.3' },
      localRepo: RuntimeRef.env('HOME').join('rrepo'),
    });
    const out = Testing.synth(s);
    expect(
      Object.keys(out.files)
        .filter((f) => f.startsWith('rlib/'))
        .sort(),
    ).toEqual(['rlib/bootstrap.sh', 'rlib/install.R', 'rlib/lock.R', 'rlib/packages.txt', 'rlib/smoke.sh']);
    const r = out.resource('rlib');
    expect(r.kind).toBe('r-library');
    expect(r.spec).toEqual({
      r: { packages: ['magrittr==2.0.3', 'optparse==1.7.5'] },
      build: {
        script: 'rlib/bootstrap.sh',
        check: 'rlib/smoke.sh',
        lock: 'set +u\n# shellcheck source=/dev/null\nsource /etc/profile.d/lmod.sh\nset -u\nmodule load gcc r/4.3.1\nRscript --vanilla "${HPCDK_STACK_DIR}/files/rlib/lock.R" "${HPCDK_STACK_DIR}/envs/rlib"',
        describe: true,
      },
    });
    const bootstrap = out.file('rlib/bootstrap.sh');
    expect(bootstrap).toContain('lib_dir="${HPCDK_STACK_DIR}/envs/rlib"\nlocal_repo="${HOME}/rrepo"\n');
    expect(bootstrap).toContain(
      'Rscript --vanilla "${HPCDK_STACK_DIR}/files/rlib/install.R" "$lib_dir" "${HPCDK_STACK_DIR}/files/rlib/packages.txt" --local-repo "$local_repo"\n',
    );
    expect(out.file('rlib/smoke.sh')).toContain(`for (p in c("magrittr", "optparse"))`);
  });

  it('GIVEN smoke: false WHEN rendered THEN there is no smoke script and apply runs no check', () => {
    const s = stack();
    new RLibrary(s, 'rlib', { packages: { optparse: '1.7.5' }, repos: ['https://cran.example.invalid'], smoke: false });
    const out = Testing.synth(s);
    expect(Object.keys(out.files)).not.toContain('rlib/smoke.sh');
    expect(out.resource('rlib', 'r-library').spec.build).not.toHaveProperty('check');
  });
});

describe('RLibrary in a job', () => {
  it('GIVEN a job with a login-built RLibrary WHEN rendered THEN its prologue loads the modules, sets R_LIBS_USER and R_LIBS, and its freeze lists the library', () => {
    const s = stack();
    const rlib = new RLibrary(s, 'rlib', {
      modules: ['r/4.3.1'],
      packages: { 'data.table': '1.14.8' },
      repos: ['https://cran.example.invalid'],
    });
    new Job(s, 'eval', { environment: rlib, run: [['Rscript', 'eval.R']] });
    const script = Testing.synth(s).file('eval/job.sbatch');
    expect(script).toContain(
      [
        '# hpcdk: R library rlib (built by apply on the login node)',
        'set +u',
        '# shellcheck source=/dev/null',
        'source /etc/profile.d/lmod.sh',
        'set -u',
        'module load r/4.3.1',
        'export R_LIBS_USER="${HPCDK_STACK_DIR}/envs/rlib"',
        'export R_LIBS="${HPCDK_STACK_DIR}/envs/rlib"',
      ].join('\n'),
    );
    expect(script).toContain(
      '{ Rscript --vanilla "${HPCDK_STACK_DIR}/files/rlib/lock.R" "$R_LIBS"; } > "$hpcdk_freeze_dir/',
    );
    expect(script).not.toContain('Python');
    expect(script.indexOf('export R_LIBS=')).toBeLessThan(script.indexOf('\nRscript eval.R\n'));
  });

  it("GIVEN build: 'per-node' WHEN rendered THEN the job builds the library on every node in node-local scratch, then smoke-checks it; apply does not build it", () => {
    const s = stack();
    const rlib = new RLibrary(s, 'rlib', {
      packages: { 'data.table': '1.14.8' },
      localRepo: '/project/def-lab/rrepo',
      build: 'per-node',
    });
    new Job(s, 'eval', { environment: rlib, run: ['Rscript eval.R'] });
    const out = Testing.synth(s);
    const script = out.file('eval/job.sbatch');
    expect(script).toContain(
      '# hpcdk: build the R library rlib on every node, then activate it on this one\nsrun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 bash "${HPCDK_STACK_DIR}/files/rlib/bootstrap.sh"\n',
    );
    expect(script).toContain(
      'export R_LIBS="${SLURM_TMPDIR}/envs/rlib"\nbash "${HPCDK_STACK_DIR}/files/rlib/smoke.sh"\n',
    );
    expect(out.resource('rlib').spec).not.toHaveProperty('build');
  });

  it('GIVEN the local target WHEN rendered THEN the modules are a comment and the library lives in the stack folder', () => {
    const s = Testing.stack({}, 'exp');
    const rlib = new RLibrary(s, 'rlib', {
      modules: ['r/4.3.1'],
      packages: { 'data.table': '1.14.8' },
      repos: ['https://cran.example.invalid'],
    });
    new Job(s, 'eval', { environment: rlib, run: ['Rscript eval.R'] });
    const script = Testing.synth(s).file('eval/job.sbatch');
    expect(script).toContain(
      '# Modules (not loaded: target local has no module system): r/4.3.1\nexport R_LIBS_USER="${HPCDK_STACK_DIR}/envs/rlib"\n',
    );
  });
});
