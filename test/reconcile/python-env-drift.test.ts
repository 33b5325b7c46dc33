import { describe, expect, it } from 'vitest';
import type { ManifestResource } from '../../lib/core/output.js';
import { checkLockDrift } from '../../lib/plan/drift.js';
import { compareFreezes, parseFreeze } from '../../lib/plan/python-drift.js';

const fields = { address: 'env', construct: 'demo/env', identity: 'x', inputs: {}, dependsOn: [], artifacts: [] };

const pythonEnv: ManifestResource = {
  ...fields,
  kind: 'python-env',
  spec: {
    python: {
      requirements: ['numpy~=1.26.4', 'requests~=2.31.0', 'tomli==2.0.1; python_version < "3.11"'],
      pipOnly: ['tool-kit==1.0'],
    },
  },
};

describe('the PythonEnv lock drift check', () => {
  it('GIVEN a freeze that satisfies the declaration, with DRAC local labels and odd name spellings WHEN checked THEN there is no drift', () => {
    const lock =
      'numpy==1.26.4+computecanada\nRequests==2.31.0+computecanada\nTool_Kit==1.0\nurllib3==2.2.1\n# requires requests: urllib3\n# requires numpy:\n';
    expect(checkLockDrift(pythonEnv, lock)).toEqual([]);
  });

  it('GIVEN missing, wrong-version and hand-added packages WHEN checked THEN each is named', () => {
    const lock =
      'numpy==1.25.0\nrequests==2.31.0\nurllib3==2.2.1\nipython==8.0.0\njedi==0.19\n# requires requests: urllib3\n# requires ipython: jedi\n';
    expect(checkLockDrift(pythonEnv, lock).map((d) => d.message)).toEqual([
      'numpy: installed 1.25.0, declared numpy~=1.26.4',
      'tool-kit: declared (tool-kit==1.0) but not installed',
      'ipython==8.0.0: installed, but neither declared nor required by a declared package',
      'jedi==0.19: installed, but neither declared nor required by a declared package',
    ]);
  });

  it('GIVEN a plain pip freeze without requirement lines WHEN checked THEN hand-added packages are not guessed at', () => {
    expect(checkLockDrift(pythonEnv, 'numpy==1.26.4\nrequests==2.31.0\ntool-kit==1.0\nsomething==1.0\n')).toEqual([]);
  });

  it('GIVEN editable and URL installs WHEN parsed THEN they count as installed with no version', () => {
    const env = parseFreeze(
      '-e git+https://example.invalid/x.git@abc#egg=My_Pkg\nflat-bug @ file:///home/u/flat-bug/dist/flat_bug-0.3.0-py3-none-any.whl\n',
    );
    expect([...env.installed]).toEqual([
      ['my-pkg', undefined],
      ['flat-bug', undefined],
    ]);
  });
});

describe('the CondaEnv lock drift check', () => {
  const conda: ManifestResource = {
    ...fields,
    kind: 'conda-env',
    spec: {
      conda: {
        dependencies: ['python=3.13', 'numpy=2.3', 'pip'],
        pip: ['torch==2.9.1'],
        pipOnly: ['lightning==2.5.6'],
      },
    },
  };

  it("GIVEN conda's export list WHEN checked THEN conda specs and pip pins are compared", () => {
    const ok =
      '# This file may be used to create an environment using:\n# platform: linux-64\npython=3.13.1=h0\nnumpy=2.3.4=py313\npip=24.0=pyh\ntorch=2.9.1=pypi_0\nlightning=2.5.6=pypi_0\n';
    expect(checkLockDrift(conda, ok)).toEqual([]);
    const drifted = 'python=3.12.7=h0\npip=24.0=pyh\ntorch=2.9.0=pypi_0\nlightning=2.5.6=pypi_0\n';
    expect(checkLockDrift(conda, drifted).map((d) => d.message)).toEqual([
      'python: installed 3.12.7, declared python=3.13',
      'numpy: declared (numpy=2.3) but not installed',
      'torch: installed 2.9.0, declared torch==2.9.1',
    ]);
  });
});

describe('comparing one environment on two targets (seed 000)', () => {
  it('GIVEN freezes from a laptop and a cluster WHEN compared THEN one-sided packages and version differences are named, local labels ignored', () => {
    const laptop = { target: 'local', lock: 'numpy==1.26.4\nrequests==2.31.0\nipython==8.0.0\n' };
    const cluster = {
      target: 'narval',
      lock: 'numpy==1.26.4+computecanada\nrequests==2.32.0\nflat-bug @ file:///home/u/dist/flat_bug-0.3.0-py3-none-any.whl\n# requires numpy:\n',
    };
    expect(compareFreezes(laptop, cluster)).toEqual([
      'flat-bug: only on narval (direct install)',
      'ipython: only on local (8.0.0)',
      'requests: 2.31.0 on local, 2.32.0 on narval',
    ]);
  });
});
