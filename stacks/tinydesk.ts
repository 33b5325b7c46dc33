// Seed 000 (tinydesk_v4): one Python environment kept identical on a laptop
// and on a SLURM cluster. A conda environment at a path (./venv in the seed)
// from environment.yml, pip-only pins installed with --no-deps, the seed's
// acceptance smoke check, and its SLURM job template with the Hugging Face
// and torch caches on node-local disk.
import { App, ClusterProfile, CondaEnv, Job, RuntimeRef, Stack } from 'hpcdk';

// The cluster: a Host alias from ~/.ssh/config. conda is set up by sourcing
// conda.sh, as the seed's job template does.
const hyak = new ClusterProfile('hyak', {
  scheduler: 'slurm',
  ssh: { host: 'hyak' },
  partitions: { ckpt: { maxTime: '1-00:00:00', cpusPerNode: 32, memPerNode: '256G', gpus: { a40: 8 } } },
  modules: 'lmod',
  shellInit: ['$HOME/miniconda3/etc/profile.d/conda.sh'],
  scratchVar: 'SLURM_TMPDIR',
});
// The laptop: conda.sh from the user's own Miniconda, no module system.
const laptop = ClusterProfile.local({ shellInit: ['$HOME/miniconda3/etc/profile.d/conda.sh'] });

const app = new App();
const stack = new Stack(app, 'tinydesk', {
  targets: [hyak, laptop],
  description: 'seed 000: one conda environment on a laptop and a cluster',
});

const env = new CondaEnv(stack, 'venv', {
  location: RuntimeRef.env('HOME').join('work/tinydesk_v4/venv'),
  channels: ['conda-forge'],
  python: '3.13',
  dependencies: ['numpy=2.3.4', 'matplotlib=3.10.7', 'pip'],
  pip: ['torch==2.9.1', 'torchvision==0.24.1', 'torchaudio==2.9.1'],
  // Pins conda's solver must not touch: installed afterwards with --no-deps.
  pipOnly: ['lightning==2.5.6'],
  smoke: {
    imports: ['torch', 'torchvision', 'torchaudio', 'numpy', 'matplotlib', 'lightning'],
    versions: ['torch', 'torchvision', 'torchaudio'],
  },
});

const nodeLocal = RuntimeRef.env('SLURM_TMPDIR');
new Job(stack, 'train', {
  environment: env,
  allocation: { time: '02:00:00', cpusPerTask: 8, mem: '64G' },
  env: {
    HF_HOME: nodeLocal.join('.cache/huggingface'),
    TORCH_HOME: nodeLocal.join('.cache/torch'),
  },
  run: ['python -c "import torch; print(torch.__version__)"'],
});
