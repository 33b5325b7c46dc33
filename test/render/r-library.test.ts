import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterProfile, Job, RLibrary, Testing } from '../../lib/index.js';
import {
  R_INSTALL_PROGRAM,
  R_LOCK_PROGRAM,
  renderRBootstrap,
  renderRSmoke,
  rFreezeCommand,
  rLockCommand,
  type RBootstrapSpec,
} from '../../lib/render/r-library.js';
import type { ShellSetup } from '../../lib/render/python-env.js';
import { RuntimeRef } from '../../lib/shell/index.js';
import { lintScript } from '../helpers/shellcheck.js';

const work = mkdtempSync(join(tmpdir(), 'hpcdk-rlib-render-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const lmod: ShellSetup = {
  targetName: 'narval',
  shellInit: ['/etc/profile.d/lmod.sh'],
  moduleSystem: 'lmod',
  modules: ['gcc', 'r/4.3.1'],
};
const none: ShellSetup = { targetName: 'local', shellInit: [], moduleSystem: 'none', modules: [] };

function bootstrap(overrides: Partial<RBootstrapSpec> = {}): string {
  return renderRBootstrap({
    header: ['exp/rlib on target narval'],
    setup: lmod,
    libDir: RuntimeRef.env('HPCDK_STACK_DIR').join('envs', 'rlib'),
    sources: { kind: 'local', path: RuntimeRef.env('HOME').join('rrepo') },
    installProgram: RuntimeRef.env('HPCDK_STACK_DIR').join('files', 'rlib', 'install.R'),
    packagesFile: RuntimeRef.env('HPCDK_STACK_DIR').join('files', 'rlib', 'packages.txt'),
    packageCount: 2,
    ...overrides,
  });
}

/** bash by its full path, so a script can run with a PATH that lacks it. */
const BASH = spawnSync('bash', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();

/** Runs a rendered script with bash in a fresh folder as HOME; the folder is returned for inspection. */
function run(
  script: string,
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string; dir: string } {
  const dir = mkdtempSync(join(work, 'run-'));
  writeFileSync(join(dir, 'script.sh'), script);
  const r = spawnSync(BASH, ['script.sh'], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: dir, HPCDK_STACK_DIR: dir, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, dir };
}

describe('R library scripts', () => {
  it('GIVEN a local repository, an R version and lmod modules WHEN the bootstrap is rendered THEN it is shellcheck-clean and checks before it installs', () => {
    const script = bootstrap({ rVersion: '4.3' });
    expect(lintScript(script, 'bootstrap.sh')).toBe('');
    expect(script).toContain(
      'module load gcc r/4.3.1\nlib_dir="${HPCDK_STACK_DIR}/envs/rlib"\nlocal_repo="${HOME}/rrepo"\n',
    );
    expect(script).toContain('case "$r_version" in\n  4.3 | 4.3.*) ;;\n');
    expect(script).toContain('if [ ! -f "$local_repo/src/contrib/PACKAGES" ]; then');
    // The checks come before the describe exit, and the install after it.
    const describeAt = script.indexOf('if [ -n "${HPCDK_DESCRIBE:-}" ]; then');
    expect(script.indexOf('command -v Rscript')).toBeLessThan(describeAt);
    expect(script.indexOf('src/contrib/PACKAGES')).toBeLessThan(describeAt);
    expect(script.indexOf('mkdir -p "$lib_dir"')).toBeGreaterThan(describeAt);
    expect(script.trimEnd().split('\n').at(-1)).toBe(
      'Rscript --vanilla "${HPCDK_STACK_DIR}/files/rlib/install.R" "$lib_dir" "${HPCDK_STACK_DIR}/files/rlib/packages.txt" --local-repo "$local_repo"',
    );
  });

  it('GIVEN repository URLs WHEN the bootstrap is rendered THEN each URL is one quoted array word, passed to install.R', () => {
    const script = bootstrap({
      setup: none,
      sources: { kind: 'repos', urls: ['https://cran.example.invalid', 'https://mirror.example.invalid/cran?a=1&b=2'] },
    });
    expect(lintScript(script, 'bootstrap.sh')).toBe('');
    expect(script).toContain(`repos=(https://cran.example.invalid 'https://mirror.example.invalid/cran?a=1&b=2')\n`);
    expect(script).toContain('--repos "${repos[@]}"\n');
    expect(script).not.toContain('src/contrib/PACKAGES');
  });

  it('GIVEN a repository path made of shell syntax WHEN the bootstrap describes itself THEN the path is a literal, refused for lacking an index, and nothing runs', () => {
    const hostile = "/tmp/it's $(touch pwned) `touch pwned2`";
    const r = run(bootstrap({ setup: none, sources: { kind: 'local', path: hostile } }), { HPCDK_DESCRIBE: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `hpcdk: the local repository ${hostile} has no src/contrib/PACKAGES index (make one with tools::write_PACKAGES(dir, type = 'source'))\n`,
    );
    expect(existsSync(join(r.dir, 'pwned'))).toBe(false);
    expect(existsSync(join(r.dir, 'pwned2'))).toBe(false);
  });

  it("GIVEN an indexed repository WHEN the bootstrap describes itself with this machine's R THEN it names the R release and the repository and creates no library", () => {
    const repo = join(work, 'described-repo');
    mkdirSync(join(repo, 'src', 'contrib'), { recursive: true });
    writeFileSync(join(repo, 'src', 'contrib', 'PACKAGES'), '');
    const version = spawnSync('Rscript', ['-e', 'cat(as.character(getRversion()))'], { encoding: 'utf8' }).stdout;
    const ok = run(
      bootstrap({
        setup: none,
        sources: { kind: 'local', path: repo },
        rVersion: version.split('.').slice(0, 2).join('.'),
      }),
      { HPCDK_DESCRIBE: '1' },
    );
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe(`hpcdk: R ${version}, packages from the local repository ${repo}\n`);
    expect(existsSync(join(ok.dir, 'envs'))).toBe(false);
    // Another release than the one declared: refused, with both named.
    const other = run(bootstrap({ setup: none, sources: { kind: 'local', path: repo }, rVersion: '9.9' }), {
      HPCDK_DESCRIBE: '1',
    });
    expect(other.status).toBe(1);
    expect(other.stderr).toBe(`hpcdk: Rscript is R ${version}, but the library declares r: 9.9\n`);
  });

  it('GIVEN no Rscript on PATH WHEN the bootstrap runs THEN it fails saying to load an R module', () => {
    const r = run(bootstrap({ setup: none }), { PATH: '/nonexistent' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'hpcdk: Rscript is not on PATH on target local; name an R module in modules, e.g. r/4.3.1',
    );
  });

  it('GIVEN package names WHEN the smoke check is rendered THEN it is shellcheck-clean and loads each one from the library', () => {
    const script = renderRSmoke({
      header: ['x'],
      setup: lmod,
      libDir: '/project/lib/R',
      packages: ['data.table', 'ggplot2'],
      address: 'rlib',
    });
    expect(lintScript(script, 'smoke.sh')).toBe('');
    expect(script).toContain(`lib_dir=/project/lib/R\nexport R_LIBS_USER="$lib_dir" R_LIBS="$lib_dir"\n`);
    expect(script).toContain(
      `Rscript --vanilla -e 'for (p in c("data.table", "ggplot2")) { suppressPackageStartupMessages(library(p, character.only = TRUE)); cat(p, as.character(packageVersion(p)), "\\n") }'\n`,
    );
    expect(script).toContain(`echo 'hpcdk: smoke check of rlib passed (loaded data.table, ggplot2)'\n`);
  });

  it("GIVEN a library WHEN the lock and freeze commands are rendered THEN both run lock.R, on the declared folder and on the job's R_LIBS", () => {
    const lockR = RuntimeRef.env('HPCDK_STACK_DIR').join('files', 'rlib', 'lock.R');
    expect(rLockCommand(none, lockR, '/lib dir')).toBe(
      `Rscript --vanilla "\${HPCDK_STACK_DIR}/files/rlib/lock.R" '/lib dir'`,
    );
    expect(rFreezeCommand(lockR)).toBe('Rscript --vanilla "${HPCDK_STACK_DIR}/files/rlib/lock.R" "$R_LIBS"');
  });

  it('GIVEN the R programs WHEN R parses them THEN they are valid R', () => {
    for (const [name, program] of [
      ['install.R', R_INSTALL_PROGRAM],
      ['lock.R', R_LOCK_PROGRAM],
    ] as const) {
      const file = join(work, name);
      writeFileSync(file, program);
      const r = spawnSync('Rscript', ['--vanilla', '-e', `invisible(parse(file = ${JSON.stringify(file)}))`], {
        encoding: 'utf8',
      });
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
    }
  });

  it('GIVEN a stack with RLibraries built in each place WHEN synthesized THEN every rendered script, the job scripts included, is shellcheck-clean', () => {
    const drac = new ClusterProfile('narval', {
      scheduler: 'slurm',
      ssh: { host: 'narval' },
      partitions: { cpu: { maxTime: '1-00:00:00' } },
      modules: 'lmod',
      shellInit: ['/etc/profile.d/lmod.sh'],
      scratchVar: 'SLURM_TMPDIR',
    });
    const s = Testing.stack({ targets: [drac] }, 'exp');
    for (const build of ['login', 'job', 'per-node'] as const) {
      const rlib = new RLibrary(s, `r-${build}`, {
        modules: ['r/4.3.1'],
        r: '4.3.1',
        packages: { 'data.table': '1.14.8', optparse: '1.7.5' },
        localRepo: '$HOME/rrepo',
        build,
      });
      new Job(s, `eval-${build}`, { environment: rlib, run: [['Rscript', 'eval.R', '--out', "it's here"]] });
    }
    const out = Testing.synth(s);
    const scripts = Object.keys(out.files).filter((f) => f.endsWith('.sh') || f.endsWith('.sbatch'));
    expect(scripts).toHaveLength(9);
    for (const f of scripts) expect(lintScript(out.file(f), f.replace(/\//g, '_')), f).toBe('');
  });
});
