import { describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  CondaEnv,
  Job,
  PythonEnv,
  RuntimeRef,
  Testing,
  ValidationError,
  Wheelhouse,
  type Stack,
} from '../../lib/index.js';

const drac = new ClusterProfile('narval', {
  scheduler: 'slurm',
  ssh: { host: 'narval' },
  partitions: { cpu: { maxTime: '1-00:00:00' } },
  modules: 'lmod',
  scratchVar: 'SLURM_TMPDIR',
});

function stack(): Stack {
  return Testing.stack({ targets: [drac] }, 'exp');
}

/** The messages a synth fails with, formatted as users see them. */
function errorsOf(s: Stack): string[] {
  try {
    Testing.synth(s);
  } catch (e) {
    if (e instanceof ValidationError)
      return e.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim());
    throw e;
  }
  throw new Error('synth succeeded');
}

describe('PythonEnv validation', () => {
  it('GIVEN bad requirements, a bad version and a conda env without channels WHEN synthesized THEN every error is listed with its construct path and field', () => {
    const s = stack();
    new PythonEnv(s, 'env', {
      python: '3.x',
      requirements: ['numpy~=1.26.4', 'requests>=2', 'torch==2.3.0 ;', 'not a requirement!', 'numpy==1.26.4'],
      pipOnly: ['foo[bar==1.0'],
      indexUrls: ['ftp://example.invalid/simple'],
      smoke: { imports: ['import os'] },
    });
    new CondaEnv(s, 'conda', { channels: [], python: 'three', pip: ['torch = = 2'] });
    const errors = errorsOf(s);
    expect(errors).toEqual(
      expect.arrayContaining([
        '[exp/env] python: must be a Python version such as 3.11 or 3.11.5 (got "3.x")',
        '[exp/env] requirements[1]: must pin a version with == or ~= (e.g. requests~=2.31.0) (got "requests>=2")',
        '[exp/env] requirements[2]: is not a valid PEP 508 requirement: the marker after ; is empty (got "torch==2.3.0 ;")',
        '[exp/env] requirements[3]: is not a valid PEP 508 requirement: "a requirement!" is not a version specifier such as ==1.2.3 or ~=1.2 (got "not a requirement!")',
        '[exp/env] requirements[4]: names numpy again (first at [0]) (got "numpy==1.26.4")',
        '[exp/env] pipOnly[0]: is not a valid PEP 508 requirement: the extras list is not closed with ] (got "foo[bar==1.0")',
        '[exp/env] indexUrls[0]: must be an http(s):// or file:// URL (got "ftp://example.invalid/simple")',
        '[exp/env] smoke.imports[0]: must be a Python module name (got "import os")',
        '[exp/conda] channels: needs at least one channel (e.g. conda-forge) (got [])',
        '[exp/conda] python: must be a Python version such as 3.11 or 3.11.5 (got "three")',
      ]),
    );
    expect(errors.some((e) => e.startsWith('[exp/conda] pip[0]: is not a valid PEP 508 requirement'))).toBe(true);
    expect(errors).toHaveLength(11);
  });

  it('GIVEN option combinations that cannot work WHEN synthesized THEN each is reported', () => {
    const s = stack();
    new PythonEnv(s, 'venv-offline', { tool: 'venv', noDownload: true, noIndex: true, requirements: ['a==1'] });
    new PythonEnv(s, 'tilde', { location: '~/envs/x' });
    new PythonEnv(s, 'scratch', { location: RuntimeRef.env('SLURM_TMPDIR').join('env') });
    expect(errorsOf(s)).toEqual([
      "[exp/venv-offline] noDownload: applies to tool 'virtualenv' only (venv never downloads) (got true)",
      '[exp/venv-offline] findLinks: noIndex needs at least one findLinks folder to install from (got [])',
      "[exp/tilde] location: must be an absolute path, or a RuntimeRef such as RuntimeRef.env('HOME').join('envs') (got \"~/envs/x\")",
      `[exp/scratch] location: a login-built environment cannot live in job scratch; use build: 'job' (got "$SLURM_TMPDIR/env")`,
    ]);
  });
});

describe('PythonEnv rendering and identity', () => {
  function env(requirements: string[], build: 'login' | 'job' | 'per-node' = 'login') {
    const s = stack();
    const py = new PythonEnv(s, 'env', {
      modules: ['python/3.11.5'],
      requirements,
      pipOnly: ['Tool_Kit==1.0'],
      smoke: { imports: ['numpy'] },
      build,
    });
    new Job(s, 'train', { environment: py, run: ['python train.py'] });
    new Job(s, 'other', { run: ['true'] });
    return Testing.synth(s);
  }

  it('GIVEN requirements in any order and spelling WHEN rendered THEN requirements.txt is sorted and normalised (PEP 503)', () => {
    const out = env([
      'Requests~=2.31.0',
      'numpy == 1.26.4',
      'Torch_Vision[Extra-One,a]==0.24.1; python_version >= "3.10"',
    ]);
    expect(out.file('env/requirements.txt')).toBe(
      '# exp/env: pinned requirements (rendered by hpcdk).\nnumpy==1.26.4\nrequests~=2.31.0\ntorch-vision[a,extra-one]==0.24.1; python_version >= "3.10"\n',
    );
    expect(out.file('env/requirements-pip.txt')).toBe(
      '# exp/env: pip-only packages, installed with --no-deps (rendered by hpcdk).\ntool-kit==1.0\n',
    );
  });

  it('GIVEN the same requirements reordered WHEN rendered THEN the env and its job keep their identities', () => {
    const a = env(['numpy==1.26.4', 'requests~=2.31.0']);
    const b = env(['requests~=2.31.0', 'NumPy==1.26.4']);
    expect(b.resource('env').identity).toBe(a.resource('env').identity);
    expect(b.resource('train').identity).toBe(a.resource('train').identity);
  });

  it('GIVEN a changed requirement WHEN rendered THEN the env and every job using it change, and other jobs do not', () => {
    const a = env(['numpy==1.26.4']);
    const b = env(['numpy==1.26.5']);
    expect(b.resource('env').identity).not.toBe(a.resource('env').identity);
    expect(b.resource('env').inputs.requirements).not.toBe(a.resource('env').inputs.requirements);
    expect(b.resource('train').identity).not.toBe(a.resource('train').identity);
    expect(b.resource('train').dependsOn).toEqual(['env']);
    expect(b.resource('other').identity).toBe(a.resource('other').identity);
  });

  it("GIVEN build: 'login' WHEN rendered THEN the resource tells apply how to build, check and lock it, and the spec holds the declaration", () => {
    const r = env(['numpy==1.26.4']).resource('env');
    expect(r.spec).toEqual({
      python: { requirements: ['numpy==1.26.4'], pipOnly: ['tool-kit==1.0'] },
      build: {
        script: 'env/bootstrap.sh',
        check: 'env/smoke.sh',
        lock: '"${HPCDK_STACK_DIR}/envs/env/bin/python" -m pip freeze && "${HPCDK_STACK_DIR}/envs/env/bin/python" "${HPCDK_STACK_DIR}/files/env/env-info.py" lock',
      },
    });
    const job = env(['numpy==1.26.4']).file('train/job.sbatch');
    expect(job).toContain(
      '# hpcdk: Python environment env (built by apply on the login node)\nmodule load python/3.11.5\nset +u\n# shellcheck source=/dev/null\nsource "${HPCDK_STACK_DIR}/envs/env/bin/activate"\nset -u\n',
    );
  });

  it("GIVEN build: 'job' WHEN rendered THEN apply builds nothing and the job builds on node-local disk, then smoke-checks", () => {
    const out = env(['numpy==1.26.4'], 'job');
    expect(out.resource('env', 'python-env').spec.build).toBeUndefined();
    expect(out.file('env/bootstrap.sh')).toContain('env_dir="${SLURM_TMPDIR}/envs/env"\n');
    expect(out.file('train/job.sbatch')).toContain(
      '# hpcdk: build the Python environment env on node-local disk\nbash "${HPCDK_STACK_DIR}/files/env/bootstrap.sh"\nmodule load python/3.11.5\n',
    );
    expect(out.file('train/job.sbatch')).toContain('bash "${HPCDK_STACK_DIR}/files/env/smoke.sh"\n');
  });

  it('GIVEN a Wheelhouse in findLinks WHEN rendered THEN the env installs from its folder and depends on it', () => {
    const s = stack();
    const wheels = new Wheelhouse(s, 'wheels', {
      projects: [RuntimeRef.env('HOME').join('flat-bug')],
      location: RuntimeRef.env('HOME').join('flat-bug/dist'),
    });
    new PythonEnv(s, 'env', {
      tool: 'virtualenv',
      noDownload: true,
      noIndex: true,
      findLinks: [wheels],
      requirements: ['flat-bug==0.3.0'],
      build: 'per-node',
    });
    const out = Testing.synth(s);
    expect(out.file('env/bootstrap.sh')).toContain(
      'pip_options=(--disable-pip-version-check --no-input --no-index --find-links "${HOME}/flat-bug/dist")\n',
    );
    expect(out.resource('env').dependsOn).toEqual(['wheels']);
    expect(out.resource('wheels').spec).toEqual({
      build: {
        script: 'wheels/gather.sh',
        lock: `find "\${HOME}/flat-bug/dist" -maxdepth 1 -name '*.whl' -printf '%f\\n' | sort`,
      },
    });
  });

  it('GIVEN a login-built env WHEN a job puts its smokeStep first THEN the job runs the deployed smoke check before its own steps', () => {
    const s = stack();
    const py = new PythonEnv(s, 'env', { requirements: ['numpy==1.26.4'], smoke: { imports: ['numpy'] } });
    new Job(s, 'train', { environment: py, run: [py.smokeStep(), 'python train.py'] });
    expect(Testing.synth(s).file('train/job.sbatch')).toContain(
      'bash "${HPCDK_STACK_DIR}/files/env/smoke.sh"\npython train.py\n',
    );
    const bare = stack();
    const noSmoke = new PythonEnv(bare, 'env', {});
    new Job(bare, 'train', { environment: noSmoke, run: [noSmoke.smokeStep()] });
    expect(errorsOf(bare)).toEqual(['[exp/env] smoke: smokeStep() is used, but no smoke check is declared']);
  });

  it('GIVEN a wheelhouse with nothing to gather WHEN synthesized THEN it is an error', () => {
    const s = stack();
    new Wheelhouse(s, 'wheels', {});
    expect(errorsOf(s)).toEqual([
      '[exp/wheels] projects: a wheelhouse needs at least one project or requirement (got [])',
    ]);
  });
});

describe('CondaEnv', () => {
  it('GIVEN a prefix, channels and pip pins WHEN rendered THEN it writes environment.yml, requirements-pip.txt and a conda lock command', () => {
    const s = Testing.stack(
      { targets: [drac.extend('hyak', { shellInit: ['$HOME/miniconda3/etc/profile.d/conda.sh'] })] },
      'tinydesk',
    );
    const conda = new CondaEnv(s, 'venv', {
      name: 'tinydesk',
      location: RuntimeRef.env('HOME').join('tinydesk/venv'),
      channels: ['conda-forge'],
      python: '3.13',
      dependencies: ['numpy=2.3.4', 'matplotlib'],
      pip: ['torchvision==0.24.1', 'torch==2.9.1'],
      pipOnly: ['lightning==2.5.6'],
    });
    new Job(s, 'train', { environment: conda, run: ['python -V'] });
    const out = Testing.synth(s);
    expect(out.file('venv/environment.yml')).toBe(
      '# tinydesk/venv: rendered by hpcdk; edit the stack, not this file.\nname: tinydesk\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.13\n  - matplotlib\n  - numpy=2.3.4\n  - pip\n  - pip:\n      - torch==2.9.1\n      - torchvision==0.24.1\n',
    );
    expect(out.file('venv/requirements-pip.txt')).toContain('\nlightning==2.5.6\n');
    const spec = out.resource('venv').spec as { build: { lock: string } };
    expect(spec.build.lock).toBe(
      'set +u\n# shellcheck source=/dev/null\nsource "${HOME}/miniconda3/etc/profile.d/conda.sh"\nset -u\nconda list --prefix "${HOME}/tinydesk/venv" --export',
    );
    expect(out.file('train/job.sbatch')).toContain('set +u\nconda activate "${HOME}/tinydesk/venv"\nset -u\n');
    expect(out.resource('train').dependsOn).toEqual(['venv']);
  });

  it('GIVEN python both as a prop and a dependency WHEN synthesized THEN it is an error naming the dependency', () => {
    const s = stack();
    new CondaEnv(s, 'c', { channels: ['conda-forge'], python: '3.11', dependencies: ['numpy', 'python=3.12'] });
    expect(errorsOf(s)).toEqual([
      '[exp/c] dependencies[1]: names python again; the python prop already sets it (got "python=3.12")',
    ]);
  });
});
