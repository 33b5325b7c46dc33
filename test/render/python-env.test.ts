import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  CondaEnv,
  Job,
  PythonEnv,
  RuntimeRef,
  type Stack,
  Testing,
  Wheelhouse,
} from '../../lib/index.js';
import {
  renderCondaBootstrap,
  renderEnvironmentYml,
  renderSmoke,
  renderVenvBootstrap,
  shellSetupLines,
  type ShellSetup,
} from '../../lib/render/python-env.js';

const SNAPSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'snapshots');
const lintDir = mkdtempSync(join(tmpdir(), 'hpcdk-pyenv-lint-'));
afterAll(() => rmSync(lintDir, { recursive: true, force: true }));

/** `bash -n` and shellcheck (style and up) on a script: '' when clean, else what they said. */
function lint(script: string, name: string): string {
  const file = join(lintDir, name.replace(/\//g, '_'));
  writeFileSync(file, script);
  const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
  if (syntax.status !== 0) return `bash -n ${name}: ${syntax.stderr}`;
  const check = spawnSync('shellcheck', ['--shell=bash', '--severity=style', file], { encoding: 'utf8' });
  if (check.error) throw new Error(`shellcheck is not installed: ${check.error.message}`);
  return check.status === 0 ? '' : `${name}:\n${check.stdout}`;
}

const drac = new ClusterProfile('narval', {
  scheduler: 'slurm',
  ssh: { host: 'narval' },
  partitions: { cpu: { maxTime: '1-00:00:00' } },
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
  scratchVar: 'SLURM_TMPDIR',
});
const lmod: ShellSetup = {
  targetName: 'narval',
  shellInit: ['/etc/profile.d/lmod.sh'],
  moduleSystem: 'lmod',
  modules: ['python/3.11.5', 'scipy-stack/2024a'],
};

describe('shell setup', () => {
  it('GIVEN an lmod target WHEN rendered THEN it sources the init files with set -u off and loads the modules in order', () => {
    expect(shellSetupLines(lmod)).toEqual([
      'set +u',
      '# shellcheck source=/dev/null',
      'source /etc/profile.d/lmod.sh',
      'set -u',
      'module load python/3.11.5 scipy-stack/2024a',
    ]);
  });

  it('GIVEN a target with no module system WHEN rendered THEN the module list is a comment', () => {
    expect(shellSetupLines({ ...lmod, targetName: 'local', shellInit: [], moduleSystem: 'none' })).toEqual([
      '# Modules (not loaded: target local has no module system): python/3.11.5 scipy-stack/2024a',
    ]);
  });
});

describe('renderVenvBootstrap', () => {
  const script = renderVenvBootstrap({
    header: ['demo/env on target narval'],
    setup: lmod,
    envDir: RuntimeRef.env('SLURM_TMPDIR').join('env'),
    create: { tool: 'virtualenv', interpreter: 'python3.11', noDownload: true },
    sources: {
      indexUrls: [],
      extraIndexUrls: ["https://index.example.invalid/simple?a=1&b='x'"],
      findLinks: [RuntimeRef.env('HOME').join('flat-bug/dist')],
      noIndex: true,
    },
    requirementsFile: RuntimeRef.env('HPCDK_STACK_DIR').join('files/env/requirements.txt'),
    requirementCount: 2,
    pipOnlyFile: RuntimeRef.env('HPCDK_STACK_DIR').join('files/env/requirements-pip.txt'),
    pipOnlyCount: 1,
    envInfo: RuntimeRef.env('HPCDK_STACK_DIR').join('files/env/env-info.py'),
  });

  it('GIVEN a DRAC virtualenv WHEN rendered THEN it creates or updates, installs offline, and says what it did', () => {
    expect(script).toContain('set -euo pipefail\n');
    expect(script).toContain('env_dir="${SLURM_TMPDIR}/env"\n');
    expect(script).toContain(
      `pip_options=(--disable-pip-version-check --no-input --no-index --extra-index-url 'https://index.example.invalid/simple?a=1&b='\\''x'\\''' --find-links "\${HOME}/flat-bug/dist")\n`,
    );
    expect(script).toContain(
      [
        'if [ -x "$env_dir/bin/python" ]; then',
        '  echo "hpcdk: updating the Python environment at $env_dir"',
        'else',
        '  echo "hpcdk: creating the Python environment at $env_dir"',
        '  mkdir -p "$(dirname "$env_dir")"',
        '  virtualenv --no-download --python python3.11 "$env_dir"',
        'fi',
      ].join('\n'),
    );
    expect(script).toContain(
      [
        'report="$env_dir/hpcdk-install-report.json"',
        '"$env_dir/bin/python" -m pip install "${pip_options[@]}" --report "$report" --requirement "${HPCDK_STACK_DIR}/files/env/requirements.txt"',
        '"$env_dir/bin/python" "${HPCDK_STACK_DIR}/files/env/env-info.py" record "$report"',
      ].join('\n'),
    );
    expect(script).toContain(
      '"$env_dir/bin/python" -m pip install "${pip_options[@]}" --report "$report" --no-deps --requirement "${HPCDK_STACK_DIR}/files/env/requirements-pip.txt"\n',
    );
    expect(script).toContain("echo 'hpcdk: installed 1 pip-only package without dependencies (requirements-pip.txt)'");
  });

  it('GIVEN the rendered bootstrap THEN bash -n and shellcheck find nothing', () => {
    expect(lint(script, 'bootstrap.sh')).toBe('');
  });

  it("GIVEN tool 'venv' WHEN rendered THEN it uses the interpreter's venv module", () => {
    const venv = renderVenvBootstrap({
      header: ['x'],
      setup: { ...lmod, modules: [], shellInit: [] },
      envDir: '/opt/envs/x',
      create: { tool: 'venv', interpreter: 'python3', noDownload: false },
      sources: { indexUrls: [], extraIndexUrls: [], findLinks: [], noIndex: false },
      requirementCount: 0,
      pipOnlyCount: 0,
      envInfo: '/x/env-info.py',
    });
    expect(venv).toContain('  python3 -m venv "$env_dir"\n');
    expect(venv).not.toContain('--requirement');
    expect(lint(venv, 'venv.sh')).toBe('');
  });
});

describe('renderSmoke', () => {
  it("GIVEN imports and versions WHEN rendered THEN it is seed 000's check as a script", () => {
    const smoke = renderSmoke({
      header: ['h'],
      envDir: '/envs/x',
      imports: ['torch', 'numpy'],
      versions: ['torch', 'torchvision'],
      address: 'venv',
    });
    expect(smoke).toContain(
      [
        'env_dir=/envs/x',
        `"$env_dir/bin/python" - <<'PY'`,
        'import torch, numpy, torchvision',
        'print("torch", getattr(torch, "__version__", "unknown"))',
        'print("torchvision", getattr(torchvision, "__version__", "unknown"))',
        'PY',
        "echo 'hpcdk: smoke check of venv passed (imported torch, numpy)'",
      ].join('\n'),
    );
    expect(lint(smoke, 'smoke.sh')).toBe('');
  });
});

describe('conda rendering', () => {
  it('GIVEN channels, dependencies and a pip section WHEN environment.yml is rendered THEN it parses as YAML into what conda reads', () => {
    const text = renderEnvironmentYml(
      {
        name: 'tinydesk',
        channels: ['conda-forge'],
        dependencies: ['python=3.13', 'numpy=2.3.4'],
        pip: ['torch==2.9.1'],
      },
      'header',
    );
    expect(text.startsWith('# header\n')).toBe(true);
    expect(parse(text)).toEqual({
      name: 'tinydesk',
      channels: ['conda-forge'],
      dependencies: ['python=3.13', 'numpy=2.3.4', 'pip', { pip: ['torch==2.9.1'] }],
    });
  });

  it('GIVEN a prefix WHEN the bootstrap is rendered THEN it creates or updates with -p and installs pip-only pins with --no-deps', () => {
    const script = renderCondaBootstrap({
      header: ['h'],
      setup: {
        targetName: 'hyak',
        shellInit: [RuntimeRef.env('HOME').join('miniconda3/etc/profile.d/conda.sh')],
        moduleSystem: 'lmod',
        modules: [],
      },
      prefix: RuntimeRef.env('HOME').join('work/tinydesk_v4/venv'),
      environmentFile: RuntimeRef.env('HPCDK_STACK_DIR').join('files/venv/environment.yml'),
      pipOnlyFile: RuntimeRef.env('HPCDK_STACK_DIR').join('files/venv/requirements-pip.txt'),
      pipOnlyCount: 2,
    });
    expect(script).toContain('source "${HOME}/miniconda3/etc/profile.d/conda.sh"\n');
    expect(script).toContain('  conda env update --prefix "$prefix" --file "$environment_file" --prune\n');
    expect(script).toContain('  conda env create --prefix "$prefix" --file "$environment_file"\n');
    expect(script).toContain(
      '"$prefix/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps --requirement "${HPCDK_STACK_DIR}/files/venv/requirements-pip.txt"\n',
    );
    expect(lint(script, 'conda-bootstrap.sh')).toBe('');
  });
});

/** Every build place of both environment kinds, with jobs, on a cluster and on the local target. */
function everyVariant(target: ClusterProfile): Stack {
  const stack = Testing.stack({ targets: [target] }, 'variants');
  const wheels = new Wheelhouse(stack, 'wheels', {
    projects: [RuntimeRef.env('HOME').join('proj')],
    requirements: ['numpy~=1.26.4'],
    modules: ['python/3.11.5'],
  });
  for (const build of ['login', 'job', 'per-node'] as const) {
    const py = new PythonEnv(stack, `py-${build}`, {
      python: '3.11',
      tool: 'virtualenv',
      noDownload: true,
      noIndex: true,
      modules: ['python/3.11.5'],
      findLinks: [wheels, '/cvmfs/wheels'],
      requirements: ['numpy~=1.26.4', 'requests[socks]==2.31.0; python_version >= "3.8"'],
      pipOnly: ['tool==1.0'],
      smoke: { imports: ['numpy'], versions: ['numpy'] },
      build,
    });
    new Job(stack, `job-${build}`, { environment: py, allocation: { nodes: 2 }, run: ['python -V'] });
    const conda = new CondaEnv(stack, `conda-${build}`, {
      channels: ['conda-forge'],
      python: '3.13',
      dependencies: ['numpy=2.3'],
      pip: ['torch==2.9.1'],
      pipOnly: ['lightning==2.5.6'],
      smoke: { imports: ['torch'] },
      build,
    });
    new Job(stack, `conda-job-${build}`, { environment: conda, run: ['python -V'] });
  }
  return stack;
}

describe('every rendered script', () => {
  for (const target of [drac, ClusterProfile.local()]) {
    it(`GIVEN every build place on target ${target.name} WHEN synthesized THEN every script and batch script passes bash -n and shellcheck`, () => {
      const out = Testing.synth(everyVariant(target));
      const scripts = out.artifacts.filter((a) => a.kind === 'script' || a.kind === 'sbatch');
      expect(scripts.length).toBeGreaterThan(15);
      const problems = scripts.map((a) => lint(a.content, a.path)).filter((p) => p !== '');
      expect(problems).toEqual([]);
    });
  }

  it('GIVEN a per-node env WHEN the job is rendered for a cluster THEN the bootstrap runs once per node with srun, then modules load and the env activates', () => {
    const script = Testing.synth(everyVariant(drac)).file('job-per-node/job.sbatch');
    expect(script).toContain(
      [
        '# hpcdk: build the Python environment py-per-node on every node, then activate it on this one',
        'srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 bash "${HPCDK_STACK_DIR}/files/py-per-node/bootstrap.sh"',
        'set +u',
        '# shellcheck source=/dev/null',
        'source /etc/profile.d/lmod.sh',
        'set -u',
        'module load python/3.11.5',
        'set +u',
        '# shellcheck source=/dev/null',
        'source "${SLURM_TMPDIR}/envs/py-per-node/bin/activate"',
        'set -u',
        'bash "${HPCDK_STACK_DIR}/files/py-per-node/smoke.sh"',
      ].join('\n'),
    );
    // The job records what it ran with, using the environment's freeze command.
    expect(script).toContain(
      [
        '# hpcdk: record the packages this run uses, next to its logs',
        'hpcdk_freeze_dir="${HPCDK_STACK_DIR}/logs/job-per-node/frozen"',
        'mkdir -p "$hpcdk_freeze_dir"',
        '{ python -m pip freeze; } > "$hpcdk_freeze_dir/${hpcdk_job_key:-${SLURM_JOB_ID:-unknown}}.txt" 2>/dev/null || true',
      ].join('\n'),
    );
  });

  it('GIVEN a per-node env WHEN rendered for the local target THEN it runs the bootstrap directly and lists the modules as a comment', () => {
    const script = Testing.synth(everyVariant(ClusterProfile.local())).file('job-per-node/job.sbatch');
    expect(script).not.toMatch(/^srun /m);
    expect(script).toContain(
      'bash "${HPCDK_STACK_DIR}/files/py-per-node/bootstrap.sh"\n# Modules (not loaded: target local has no module system): python/3.11.5\n',
    );
    expect(script).toContain('source "${TMPDIR}/envs/py-per-node/bin/activate"');
  });

  it('GIVEN a wheelhouse WHEN rendered THEN gather.sh builds the project wheel and downloads dependencies into its folder', () => {
    const gather = Testing.synth(everyVariant(drac)).file('wheels/gather.sh');
    expect(gather).toContain('wheel_dir="${HPCDK_STACK_DIR}/wheelhouses/wheels"\n');
    expect(gather).toContain(
      'python3 -m pip wheel "${pip_options[@]}" --no-deps --wheel-dir "$wheel_dir" "${HOME}/proj"\n',
    );
    expect(gather).toContain('python3 -m pip download "${pip_options[@]}" --dest "$wheel_dir" "${HOME}/proj"\n');
    expect(gather).toContain(
      'python3 -m pip download "${pip_options[@]}" --dest "$wheel_dir" --requirement "${HPCDK_STACK_DIR}/files/wheels/requirements.txt"\n',
    );
  });

  it('GIVEN the committed seed stacks (000, 001, 003) WHEN their snapshot scripts are linted THEN bash -n and shellcheck find nothing', () => {
    const scripts: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.(sh|sbatch)$/.test(e.name)) scripts.push(join(d, e.name));
      }
    };
    for (const stack of ['tinydesk', 'flat-bug', 'drac-env']) walk(join(SNAPSHOTS, stack));
    expect(scripts.length).toBeGreaterThanOrEqual(12);
    expect(
      scripts.map((f) => lint(readFileSync(f, 'utf8'), f.slice(SNAPSHOTS.length + 1))).filter((p) => p !== ''),
    ).toEqual([]);
  });

  it('GIVEN the committed stacks WHEN their environment.yml files are parsed THEN they are valid YAML with channels', () => {
    const yml = parse(readFileSync(join(SNAPSHOTS, 'tinydesk/hyak/venv/environment.yml'), 'utf8')) as {
      channels: string[];
      dependencies: unknown[];
    };
    expect(yml.channels).toEqual(['conda-forge']);
    expect(yml.dependencies[0]).toBe('python=3.13');
    expect(yml.dependencies.at(-1)).toEqual({ pip: ['torch==2.9.1', 'torchaudio==2.9.1', 'torchvision==0.24.1'] });
  });
});
