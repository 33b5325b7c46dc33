// Seed 002, the remote job manager, as a stack: a container image made from
// a project template (with its created-by label and a smoke test), built and
// converted to a .sif where the cluster runs Apptainer, and a GPU job that
// runs inside it. Experiments (sweeps) are added below the image.
import { App, ClusterProfile, ContainerImage, ImageBlock, Job, RuntimeRef, Stack, type Construct } from 'hpcdk';

// The cluster: a Host alias from ~/.ssh/config; jobs run in images with Apptainer.
const cluster = new ClusterProfile('gpu-cluster', {
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
const stack = new Stack(app, 'job-manager', { targets: [cluster], description: 'seed 002: an image from a template, a smoke test, a GPU job in the image' });

const image = projectImage(stack, 'image', {
  projectName: 'my-project',
  requirements: ['numpy==1.26.4', 'torch==2.3.1', 'wandb==0.17.4'],
  testCommand: 'python -c "import numpy, torch; print(torch.__version__)"',
  cmd: ['python', 'main.py'],
});

// The seed's "test inside the container with a GPU": a short GPU job in the image.
const gpuTest = new Job(stack, 'gpu-test', {
  image,
  allocation: { partition: 'gpu', time: '00:10:00', gpus: { type: 'a100', count: 1 }, cpusPerTask: 1, mem: '32G' },
  run: [['python', '-c', 'import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name(0))']],
});

// A training run in the image, after the GPU test passed.
new Job(stack, 'train', {
  image,
  allocation: { partition: 'gpu', time: '12:00:00', gpus: { type: 'a100', count: 1 }, cpusPerTask: 8, mem: '64G' },
  env: { DATA_DIR: RuntimeRef.env('SLURM_TMPDIR').join('data') },
  run: [['python', '/my-project/main.py', '--data_dir', RuntimeRef.env('DATA_DIR')]],
}).dependsOn(gpuTest);
