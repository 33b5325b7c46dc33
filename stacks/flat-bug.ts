// Seed 001 (flat-bug on DRAC): compute nodes have no internet, so the
// project and its dependencies are gathered into a wheelhouse on the login
// node, and each job builds its virtualenv on node-local disk, once per
// node, with `virtualenv --no-download` and `pip install --no-index`.
//
// Extending: add experiments as more Jobs (or sweeps) that take
// `environment: env`; they all share the one declaration below.
import { App, ClusterProfile, Dataset, PythonEnv, RuntimeRef, Stack, Sweep, Wheelhouse } from 'hpcdk';

const graham = new ClusterProfile('graham', {
  scheduler: 'slurm',
  ssh: { host: 'graham' }, // a Host alias from ~/.ssh/config
  account: 'def-mylab',
  partitions: { gpu: { maxTime: '7-00:00:00', cpusPerNode: 44, memPerNode: '187G', gpus: { t4: 4 } } },
  modules: 'lmod',
  // Defines `module` in the non-interactive shells apply and batch jobs run.
  shellInit: ['/cvmfs/soft.computecanada.ca/config/profile/bash.sh'],
  scratchVar: 'SLURM_TMPDIR',
});

const app = new App();
const stack = new Stack(app, 'flat-bug', { targets: [graham], description: 'seed 001: per-node virtualenvs from a wheelhouse, on DRAC' });

/** The modules every step loads, in the seed's order. */
const modules = ['python/3.11.5', 'opencv/4.10.0', 'gcc', 'scipy-stack/2024a', 'r/4.4.0'];
const home = RuntimeRef.env('HOME');
const nodeLocal = RuntimeRef.env('SLURM_TMPDIR');

// `pip wheel` + `pip download` of the checkout, on the login node (it has internet).
const wheels = new Wheelhouse(stack, 'wheels', {
  projects: [home.join('flat-bug')],
  location: home.join('flat-bug/dist'),
  interpreter: 'python3.11',
  modules,
  // Build with the python module's own setuptools rather than one pip would fetch.
  noBuildIsolation: true,
});

const env = new PythonEnv(stack, 'env', {
  python: '3.11',
  tool: 'virtualenv',
  noDownload: true,
  modules,
  requirements: ['flat-bug==0.3.0'],
  noIndex: true,
  findLinks: [wheels],
  location: nodeLocal.join('env'),
  build: 'per-node',
  smoke: { imports: ['flat_bug'] },
});

// The zipped dataset, unzipped onto each node's local disk before the steps run.
const data = new Dataset(stack, 'fb-yolo', { source: home.join('scratch/fb_data/fb_yolo.zip'), destination: 'fb_yolo' });

// compare_models as the seed runs it with submitit: one array job, one task per
// model, each on its node's own virtualenv and copy of the data. The
// $SLURM_TMPDIR paths expand on the node; the parameters reach each task
// through its params file, never spliced into the script.
new Sweep(stack, 'compare-models', {
  points: [{ MODEL: 'fb_large' }, { MODEL: 'fb_medium' }, { MODEL: 'fb_small' }],
  environment: env,
  stage: [data],
  allocation: { partition: 'gpu', time: '01:00:00', gpus: { type: 't4', count: 1 }, cpusPerTask: 12, mem: '32G' },
  workdir: home.join('flat-bug'),
  run: [
    ['mkdir', '-p', nodeLocal.join('job_output')],
    [
      'python', 'scripts/experiments/compare_models.py',
      '-i', data.path.join('insects/images/val'),
      '-g', data.path.join('insects/labels/val/instances_default.json'),
      '--model', Sweep.param('MODEL'),
      '--tmp', nodeLocal.join('job_output'),
      '-o', home.join('scratch/my_output_folder'),
    ],
  ],
});
