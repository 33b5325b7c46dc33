// Seed 002, the remote job manager, as a stack: a container image made from
// a project template (with its created-by label and a smoke test), built and
// converted to a .sif where the cluster runs Apptainer, and a GPU job that
// runs inside it; then the seed's experiment ppo over the grid lr_up, as one
// job array. Configuration layers as in the seed's Hydra setup, later winning:
// cluster (global) → project → experiment (the sweep's own) → grid (its points).
import { App, ClusterProfile, ContainerImage, ImageBlock, Job, RuntimeRef, Stack, Sweep, type Construct } from 'hpcdk';

// The global cluster config (~/.config/remote-job-manager/clusters/ in the seed):
// a Host alias from ~/.ssh/config; jobs run in images with Apptainer.
const globalCluster = new ClusterProfile('gpu-cluster-global', {
  scheduler: 'slurm',
  ssh: { host: 'gpu-cluster' },
  basePath: '~/remote-job-manager-workspace',
  account: 'default_account',
  partitions: {
    debug: { maxTime: '01:00:00', cpusPerNode: 32, memPerNode: '256G' },
    gpu: { maxTime: '2-00:00:00', cpusPerNode: 48, memPerNode: '498G', gpus: { a100: 4 } },
  },
  scratchVar: 'SLURM_TMPDIR',
  containerRuntime: 'apptainer',
});

// The project layer (conf/project.yaml and conf/cluster/ in the seed): this
// project's account and the defaults of its jobs.
const cluster = globalCluster.extend('gpu-cluster', {
  account: 'my_project_account',
  jobDefaults: { partition: 'gpu', time: '00:10:00', gpus: { type: 'a100', count: 1 }, cpusPerTask: 1, mem: '32G' },
  env: { WANDB_MODE: 'offline' },
});

/** What the seed's Dockerfile.template asks of a project. */
interface ProjectImageOptions {
  readonly projectName: string;
  readonly requirements: string[];
  readonly testCommand: string;
  readonly cmd: string[];
}

/**
 * The seed's Dockerfile.template as a function: a Python base pinned by tag,
 * a workdir named after the project, its requirements, and the
 * created-by label (hpcdk adds `created_by`, the stack and the address).
 */
function projectImage(scope: Construct, id: string, o: ProjectImageOptions): ContainerImage {
  return new ContainerImage(scope, id, {
    // Pin by digest too once the image is chosen: 'python:3.11-slim-bookworm@sha256:<digest>'.
    from: 'python:3.11-slim-bookworm',
    workdir: `/${o.projectName}`,
    env: { PYTHONUNBUFFERED: '1', WANDB_MODE: 'offline' },
    steps: [ImageBlock.apt(['git', 'unzip', 'wget']), ImageBlock.pip(o.requirements)],
    labels: { 'org.opencontainers.image.title': o.projectName },
    test: [o.testCommand],
    cmd: o.cmd,
  });
}

const app = new App();
const stack = new Stack(app, 'job-manager', {
  targets: [cluster],
  description: 'seed 002: an image from a template, a smoke test, a GPU job in the image',
});

const image = projectImage(stack, 'image', {
  projectName: 'my-project',
  requirements: ['numpy==1.26.4', 'torch==2.3.1', 'wandb==0.17.4'],
  testCommand: 'python -c "import numpy, torch; print(torch.__version__)"',
  cmd: ['python', 'main.py'],
});

// The seed's "test inside the container with a GPU": a short GPU job in the image.
const gpuTest = new Job(stack, 'gpu-test', {
  image,
  run: [['python', '-c', 'import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name(0))']],
});

// The experiment ppo (conf/experiment/ppo.yaml) over the grid lr_up
// (conf/grid/lr_up.yaml): six points, one array, at most three at once,
// only after the GPU test passed. Each task gets its point as $lr and $seed.
new Sweep(stack, 'ppo-lr-up', {
  image,
  grid: { lr: [0.0003, 0.001, 0.003], seed: [1, 2] },
  throttle: 3,
  allocation: { time: '12:00:00', cpusPerTask: 8, mem: '64G' },
  env: { DATA_DIR: RuntimeRef.env('SLURM_TMPDIR').join('data') },
  run: ['python /my-project/main.py experiment=ppo lr="$lr" seed="$seed" data_dir="$DATA_DIR"'],
}).dependsOn(gpuTest);
