// Seed 001 (flat-bug on DRAC): compute nodes have no internet, so the
// project and its dependencies are gathered into a wheelhouse on the login
// node, and each job builds its virtualenv on node-local disk, once per
// node, with `virtualenv --no-download` and `pip install --no-index`.
//
// Extending: add experiments as more Jobs (or sweeps) that take
// `environment: env`; they all share the one declaration below.
import { App, ClusterProfile, Dataset, Job, PythonEnv, RLibrary, RuntimeRef, Stack, Sweep, Wheelhouse } from 'hpcdk';

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
const stack = new Stack(app, 'flat-bug', {
  targets: [graham],
  description: 'seed 001: per-node virtualenvs from a wheelhouse, on DRAC',
});

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
const data = new Dataset(stack, 'fb-yolo', {
  source: home.join('scratch/fb_data/fb_yolo.zip'),
  destination: 'fb_yolo',
});

// compare_models as the seed runs it with submitit: one array job, one task per
// model, each on its node's own virtualenv and copy of the data. The
// $SLURM_TMPDIR paths expand on the node; the parameters reach each task
// through its params file, never spliced into the script.
const compareModels = new Sweep(stack, 'compare-models', {
  points: [{ MODEL: 'fb_large' }, { MODEL: 'fb_medium' }, { MODEL: 'fb_small' }],
  environment: env,
  stage: [data],
  allocation: { partition: 'gpu', time: '01:00:00', gpus: { type: 't4', count: 1 }, cpusPerTask: 12, mem: '32G' },
  workdir: home.join('flat-bug'),
  // $SLURM_TMPDIR is deleted when the job ends: its job_output is copied back, each
  // model's into a folder of its own, when the task ends or is warned of its time limit.
  outputs: [{ from: nodeLocal.join('job_output'), to: home.join('scratch/my_output_folder/job_output') }],
  run: [
    ['mkdir', '-p', nodeLocal.join('job_output')],
    [
      'python',
      'scripts/experiments/compare_models.py',
      '-i',
      data.path.join('insects/images/val'),
      '-g',
      data.path.join('insects/labels/val/instances_default.json'),
      '--model',
      Sweep.param('MODEL'),
      '--tmp',
      nodeLocal.join('job_output'),
      '-o',
      home.join('scratch/my_output_folder'),
    ],
  ],
});

// The end-to-end evaluation is an R script. Its packages are pinned and installed
// once, by apply on the login node, into a library in the stack's folder, from a
// repository of source tarballs the lab keeps in $HOME (download.packages() where
// there is internet); plan reports drift from the recorded versions.
const evalR = new RLibrary(stack, 'eval-r', {
  modules: ['gcc', 'r/4.4.0'],
  packages: { 'data.table': '1.15.4', ggplot2: '3.5.1', scales: '1.3.0', optparse: '1.7.5', magrittr: '2.0.3' },
  localRepo: home.join('R/cran'),
});

new Job(stack, 'evaluate', {
  environment: evalR,
  allocation: { partition: 'gpu', time: '00:30:00', cpusPerTask: 2, mem: '8G' },
  workdir: home.join('flat-bug'),
  run: [['Rscript', 'scripts/evaluation/evaluate.R', '--input', home.join('scratch/my_output_folder')]],
}).dependsOn(compareModels, 'afterany');
