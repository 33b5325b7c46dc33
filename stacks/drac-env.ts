// Seed 003 (DRAC environment management): a virtualenv built on the login
// node from DRAC's pre-built wheels, pinned with tilde requirements
// (`~=`, never a lock of `+computecanada` versions), mixed with packages
// from an index for what the wheelhouse lacks. Plan reads `requests
// 2.31.0+computecanada` as satisfying `requests~=2.31.0`.
import { App, ClusterProfile, Job, PythonEnv, Stack } from 'hpcdk';

const narval = new ClusterProfile('narval', {
  scheduler: 'slurm',
  ssh: { host: 'narval' }, // a Host alias from ~/.ssh/config
  account: 'def-mylab',
  partitions: { cpu: { maxTime: '7-00:00:00', cpusPerNode: 64, memPerNode: '249G' } },
  modules: 'lmod',
  // Defines `module` in the non-interactive shells apply and batch jobs run.
  shellInit: ['/cvmfs/soft.computecanada.ca/config/profile/bash.sh'],
  scratchVar: 'SLURM_TMPDIR',
});

const app = new App();
const stack = new Stack(app, 'drac-env', {
  targets: [narval],
  description: 'seed 003: DRAC wheels with tilde pins, mixed sources',
});

/** DRAC's wheelhouse on CVMFS (what its pip config points at). */
const dracWheels = [
  '/cvmfs/soft.computecanada.ca/custom/python/wheelhouse/gentoo2023/x86-64-v3',
  '/cvmfs/soft.computecanada.ca/custom/python/wheelhouse/gentoo2023/generic',
  '/cvmfs/soft.computecanada.ca/custom/python/wheelhouse/generic',
];

const env = new PythonEnv(stack, 'env', {
  python: '3.11',
  tool: 'virtualenv',
  noDownload: true,
  modules: ['python/3.11.5'],
  requirements: [
    // From DRAC's pre-built wheels: tilde pins, as the seed recommends.
    'numpy~=1.26.4',
    'torch~=2.3.0',
    'requests~=2.31.0',
    // Not in the wheelhouse: from the index below.
    'pytest~=8.2.0',
    'flake8~=7.1.0',
  ],
  findLinks: dracWheels,
  extraIndexUrls: ['https://index.example.invalid/simple'],
  smoke: { imports: ['numpy', 'torch', 'requests'], versions: ['numpy', 'torch', 'requests'] },
});

new Job(stack, 'tests', {
  environment: env,
  allocation: { time: '00:30:00', cpusPerTask: 4, mem: '8G' },
  run: ['python -m pytest -q'],
});
