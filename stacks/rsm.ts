// Seed 004: two hardware tiers, one experiment.
// Tier 1 (an L4 with 22 GB) runs the mini-train; tier 2 (A100s with 80 GB) runs the
// full training. The experiment is declared once; each tier's profile supplies its
// partition, GPU, time limit and training config (the cluster layer), and the job
// adds what does not depend on the tier (the experiment layer).
// `hpcdk synth` renders snapshots/rsm/tier1-l4/ and snapshots/rsm/tier2-a100/:
// diff the two folders to see exactly what differs between the tiers.
import { App, ClusterProfile, CodeBundle, Dataset, Job, RuntimeRef, Scratch, Stack } from 'hpcdk';

const tier1 = new ClusterProfile('tier1-l4', {
  scheduler: 'slurm',
  ssh: { host: 'tier1' }, // a Host alias in ~/.ssh/config; its IP changes when the VM restarts
  partitions: {
    l4: { maxTime: '02:00:00', cpusPerNode: 8, memPerNode: '32G', gpus: { l4: 1 }, gpuMemoryGb: { l4: 22 } },
  },
  jobDefaults: { partition: 'l4', time: '00:30:00', gpus: { type: 'l4', count: 1 } },
  env: { TRAIN_CONFIG: 'examples/rsm/configs/mini.yaml' },
  scratchVar: 'TMPDIR',
  description: 'Tier 1: code authoring, mini-audits under 5 minutes, toy training runs',
});

const tier2 = new ClusterProfile('tier2-a100', {
  scheduler: 'slurm',
  ssh: { host: 'tier2' },
  partitions: {
    a100: { maxTime: '3-00:00:00', cpusPerNode: 64, memPerNode: '512G', gpus: { a100: 4 }, gpuMemoryGb: { a100: 80 } },
  },
  jobDefaults: { partition: 'a100', time: '2-00:00:00', gpus: { type: 'a100', count: 1 } },
  env: { TRAIN_CONFIG: 'examples/rsm/configs/full.yaml' },
  scratchVar: 'TMPDIR',
  description: 'Tier 2: full-scale training and long-context runs',
});

const app = new App();
const stack = new Stack(app, 'rsm', {
  targets: [tier1, tier2],
  description: 'seed 004: mini-train on L4, full training on A100',
});

// The airlock: the job runs the committed experiment, never a working copy that drifted.
// `hpcdk apply` refuses uncommitted changes here (unless --allow-dirty) and records the commit.
const code = new CodeBundle(stack, 'code', { paths: ['examples/rsm'] });

// Never train off a network mount: prefetch the tokenized corpus to local SSD first.
const corpus = new Dataset(stack, 'pg19', {
  source: RuntimeRef.env('HOME').join('data/pg19.tar.gz'),
  destination: 'data/pg19',
});

new Job(stack, 'train', {
  code,
  // Never start the 2-day A100 run before this exact code and environment ran to
  // COMPLETED on the L4: plan reads tier 1's state and refuses until it has.
  gate: { completedOn: 'tier1-l4' },
  stage: [corpus],
  // "If your model + batch requires > 20 GB of vRAM, do not run it on tier 1."
  requires: { gpuMemoryGb: 20 },
  allocation: { cpusPerTask: 8, mem: '30G' },
  caches: { HF_HOME: '.cache/huggingface', CHECKPOINT_DIR: 'checkpoints' },
  workdir: code.dir,
  // Exact library versions next to the logs: proof of what ran.
  freeze: true,
  // Checkpoints every 10-20 minutes are the script's own; on the time-limit warning,
  // ask it to save now, then requeue. On restart, train.py resumes from the newest.
  checkpoint: { hook: 'kill -USR1 "$HPCDK_STEP_PID"\nsleep 60', secondsBefore: 300 },
  // Lose nothing: checkpoints go from local SSD to persistent storage every 15 minutes
  // in the background, on the warning signal and at the end; the newest 3 are kept, and
  // a requeued run on another node finds the newest in RESUME_FROM.
  outputs: [
    { from: Scratch.path('checkpoints'), to: 'checkpoints', everyMinutes: 15, keep: 3, resumeVar: 'RESUME_FROM' },
  ],
  run: [
    [
      'python3',
      'examples/rsm/train.py',
      '--config',
      RuntimeRef.env('TRAIN_CONFIG'),
      '--data',
      corpus.path,
      '--resume',
      'latest',
    ],
  ],
});
