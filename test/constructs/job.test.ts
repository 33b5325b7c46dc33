import { describe, expect, it } from 'vitest';
import { ClusterProfile, Job, RuntimeRef, type Stack, Testing } from '../../lib/index.js';
import { lintScript } from '../helpers/shellcheck.js';

const drac = new ClusterProfile('drac', {
  scheduler: 'slurm',
  ssh: { host: 'narval' },
  account: 'def-lab',
  partitions: {
    cpu: { maxTime: '3:00:00', cpusPerNode: 48, memPerNode: '186G' },
    gpu: {
      maxTime: '2-00:00:00',
      cpusPerNode: 48,
      memPerNode: '498G',
      gpus: { a100: 4, t4: 2 },
      gpuMemoryGb: { a100: 80, t4: 16 },
    },
  },
  scratchVar: 'SLURM_TMPDIR',
});

function stackOn(target = drac): Stack {
  return Testing.stack({ targets: [target] }, 'exp');
}

describe('Job', () => {
  it('renders sorted #SBATCH directives with the target defaults filled in', () => {
    const stack = stackOn();
    new Job(stack, 'train', {
      run: ['python train.py'],
      allocation: {
        partition: 'gpu',
        time: '12:00:00',
        gpus: { type: 'a100', count: 2 },
        mem: '64G',
        cpusPerTask: 8,
        mail: { user: 'me@example.invalid' },
        extra: { exclusive: 'user' },
      },
    });
    const script = Testing.synth(stack).file('train/job.sbatch');
    const directives = script.split('\n').filter((l) => l.startsWith('#SBATCH'));
    expect(directives).toEqual([
      '#SBATCH --account=def-lab',
      '#SBATCH --cpus-per-task=8',
      '#SBATCH --error=logs/train/%x-%j.err',
      '#SBATCH --exclusive=user',
      '#SBATCH --gres=gpu:a100:2',
      '#SBATCH --job-name=exp.train',
      '#SBATCH --mail-type=FAIL',
      '#SBATCH --mail-user=me@example.invalid',
      '#SBATCH --mem=64G',
      '#SBATCH --output=logs/train/%x-%j.out',
      '#SBATCH --partition=gpu',
      '#SBATCH --time=12:00:00',
    ]);
    expect(lintScript(script)).toBe('');
  });

  it('quotes argv steps and env values, and expands runtime references on the node', () => {
    const stack = stackOn();
    new Job(stack, 'eval', {
      env: { OUT: "my results's folder" },
      caches: { HF_HOME: '.cache/huggingface', TORCH_HOME: '.cache/torch' },
      run: [
        [
          'python',
          'compare_models.py',
          '-i',
          RuntimeRef.env('SLURM_TMPDIR').join('fb_yolo/insects/images/val'),
          '-o',
          '$HOME/out',
        ],
      ],
    });
    const script = Testing.synth(stack).file('eval/job.sbatch');
    expect(script).toContain(`export OUT='my results'\\''s folder'`);
    expect(script).toContain('export HF_HOME="${SLURM_TMPDIR}/.cache/huggingface"');
    expect(script).toContain('export TORCH_HOME="${SLURM_TMPDIR}/.cache/torch"');
    expect(script).toContain(
      `python compare_models.py -i "\${SLURM_TMPDIR}/fb_yolo/insects/images/val" -o '$HOME/out'`,
    );
    expect(lintScript(script)).toBe('');
  });

  it('renders checkpoint and requeue: the signal, a trap running the hook, the restart count, steps under wait', () => {
    const stack = stackOn();
    new Job(stack, 'long', {
      run: ['python train.py --resume'],
      allocation: { partition: 'gpu', time: '1-00:00:00' },
      checkpoint: { hook: 'kill -USR1 "$HPCDK_STEP_PID"\nsleep 30', secondsBefore: 600 },
      freeze: true,
    });
    const script = Testing.synth(stack).file('long/job.sbatch');
    expect(script).toContain('#SBATCH --signal=B:USR2@600');
    expect(script).toContain('#SBATCH --requeue\n');
    expect(script).toContain('export HPCDK_RESTART_COUNT="${SLURM_RESTART_COUNT:-0}"');
    expect(script).toContain('trap hpcdk_on_checkpoint USR2');
    // The hook as written, not indented (a heredoc's terminator must start its line).
    expect(script).toContain('\nkill -USR1 "$HPCDK_STEP_PID"\nsleep 30\n  hpcdk_requeued=1\n  scontrol requeue');
    expect(script).toContain('python train.py --resume &\nHPCDK_STEP_PID=$!\nhpcdk_wait "$HPCDK_STEP_PID"');
    expect(script).toContain(
      '{ python3 -m pip freeze; } > "$hpcdk_freeze_dir/${hpcdk_job_key:-${SLURM_JOB_ID:-unknown}}.txt" 2>/dev/null || true',
    );
    expect(script).toContain('hpcdk_freeze_dir="${HPCDK_STACK_DIR}/logs/long/frozen"');
    expect(lintScript(script)).toBe('');
  });

  it('checks the allocation against the partition: time, GPU type and count, memory, CPUs, GPU memory', () => {
    const stack = stackOn();
    new Job(stack, 'big', {
      run: ['x'],
      allocation: { partition: 'cpu', time: '5:00:00', mem: '200G', cpusPerTask: 64 },
    });
    new Job(stack, 'gpus', { run: ['x'], allocation: { partition: 'gpu', gpus: { type: 'h100', count: 1 } } });
    new Job(stack, 'many', { run: ['x'], allocation: { partition: 'gpu', gpus: { type: 'a100', count: 8 } } });
    new Job(stack, 'vram', {
      run: ['x'],
      allocation: { partition: 'gpu', gpus: { type: 't4', count: 1 } },
      requires: { gpuMemoryGb: 40 },
    });
    new Job(stack, 'nowhere', { run: ['x'], allocation: { partition: 'bigmem' } });
    let message = '';
    try {
      Testing.synth(stack);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      '[exp/big] allocation.time: exceeds partition cpu\'s limit of 3:00:00 on drac (got "5:00:00")',
    );
    expect(message).toContain(
      '[exp/big] allocation.mem: more than a node of partition cpu on drac has (186G) (got "200G")',
    );
    expect(message).toContain(
      '[exp/big] allocation.cpusPerTask: asks 64 CPUs per node; partition cpu nodes on drac have 48 (got 64)',
    );
    expect(message).toContain(
      '[exp/gpus] allocation.gpus.type: partition gpu on drac has no GPUs of this type (has: a100, t4) (got "h100")',
    );
    expect(message).toContain('[exp/many] allocation.gpus.count: partition gpu nodes on drac have at most 4 (got 8)');
    expect(message).toContain(
      '[exp/vram] requires.gpuMemoryGb: needs 40 GB of GPU memory; t4 on partition gpu on drac has 16 GB (got 40)',
    );
    expect(message).toContain(
      '[exp/nowhere] allocation.partition: target drac has no such partition (has: cpu, gpu) (got "bigmem")',
    );
  });

  it('is permissive on the local target, so any stack can be tried on a laptop', () => {
    const stack = Testing.stack({ targets: [drac, ClusterProfile.local()] }, 'exp');
    new Job(stack, 'big', { run: ['x'], allocation: { partition: 'cpu', time: '5:00:00' } });
    expect(() => Testing.synth(stack, { target: 'local' })).not.toThrow();
    expect(() => Testing.synth(stack, { target: 'drac' })).toThrow(/allocation.time/);
  });

  it('refuses malformed allocation values, naming each field', () => {
    const stack = stackOn();
    new Job(stack, 'bad', {
      run: [],
      allocation: { time: 'two hours', mem: 'lots', extra: { '--bad': 'x; rm -rf /' } },
    });
    let message = '';
    try {
      Testing.synth(stack);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('[exp/bad] run: a job needs at least one step');
    expect(message).toContain(
      '[exp/bad] allocation.time: must be a SLURM time such as 02:00:00 or 1-12:00:00 (got "two hours")',
    );
    expect(message).toContain('[exp/bad] allocation.mem: must be a SLURM memory size such as 64G (got "lots")');
    expect(message).toContain(
      '[exp/bad] allocation.extra.--bad: must be a long option name without dashes (got "--bad")',
    );
  });

  it.each([
    ['array', '0-9', 'use a Sweep'],
    ['dependency', 'afterok:123', 'use job.dependsOn(other'],
    ['comment', 'mine', 'hpcdk keeps its own comment'],
    ['job-name', 'x', 'the job name is the stack and address'],
    ['output', 'out.log', "use the job's stdout prop"],
    ['error', 'err.log', "use the job's stderr prop"],
    ['parsable', 'yes', 'hpcdk submits with --parsable itself'],
  ])('GIVEN extra.%s WHEN synthesized THEN it is refused, saying what to use instead', (option, value, instead) => {
    const stack = stackOn();
    new Job(stack, 'bad', { run: ['true'], allocation: { extra: { [option]: value } } });
    expect(() => Testing.synth(stack)).toThrow(
      `[exp/bad] allocation.extra.${option}: --${option} is managed by hpcdk: ${instead}`,
    );
  });

  it('GIVEN an extra option hpcdk does not manage WHEN synthesized THEN it is rendered as written', () => {
    const stack = stackOn();
    new Job(stack, 'ok', { run: ['true'], allocation: { extra: { 'mail-type': 'END', begin: 'now+1hour' } } });
    const script = Testing.synth(stack).file('ok/job.sbatch');
    expect(script).toContain('#SBATCH --begin=now+1hour');
    expect(script).toContain('#SBATCH --mail-type=END');
  });

  it('changes identity with what it runs and with its dependencies, not with declaration order', () => {
    const build = (cmd: string, order: 'ab' | 'ba') => {
      const stack = stackOn();
      const make = (id: string) => new Job(stack, id, { run: [id === 'a' ? cmd : 'echo b'] });
      const [first, second] = order === 'ab' ? [make('a'), make('b')] : [make('b'), make('a')];
      void first;
      void second;
      (stack.node.findChild('b') as Job).dependsOn(stack.node.findChild('a') as Job);
      return Testing.synth(stack);
    };
    const base = build('echo a', 'ab');
    expect(build('echo a', 'ba').resource('b').identity).toBe(base.resource('b').identity);
    const changed = build('echo A', 'ab');
    expect(changed.resource('a').identity).not.toBe(base.resource('a').identity);
    expect(changed.resource('b').identity).not.toBe(base.resource('b').identity);
  });

  it("layers the target's job defaults under the job's own allocation and env, later layers winning", () => {
    const base = new ClusterProfile('small', {
      scheduler: 'slurm',
      ssh: { host: 'tier1' },
      partitions: { l4: { maxTime: '02:00:00', gpus: { l4: 1 }, gpuMemoryGb: { l4: 22 } } },
      jobDefaults: { partition: 'l4', time: '00:30:00', gpus: { type: 'l4', count: 1 } },
      env: { TRAIN_CONFIG: 'configs/mini.yaml', SHARED: 'cluster' },
    });
    const project = base.extend('small-project', { env: { SHARED: 'project' } });
    const stack = Testing.stack({ targets: [project] }, 'exp');
    new Job(stack, 'train', {
      allocation: { time: '01:00:00', cpusPerTask: 4 },
      env: { SHARED: 'experiment' },
      run: ['true'],
    });
    const script = Testing.synth(stack).file('train/job.sbatch');
    expect(script).toContain('#SBATCH --partition=l4');
    expect(script).toContain('#SBATCH --gres=gpu:l4:1');
    expect(script).toContain('#SBATCH --time=01:00:00');
    expect(script).toContain('#SBATCH --cpus-per-task=4');
    expect(script).toContain('export TRAIN_CONFIG=configs/mini.yaml');
    expect(script).toContain('export SHARED=experiment');
    expect(script).not.toContain('SHARED=project');
  });

  it('keeps a job that needs more GPU memory than the small tier has off that tier (seed 004)', () => {
    const tier1 = new ClusterProfile('tier1', {
      scheduler: 'slurm',
      ssh: { host: 'tier1' },
      partitions: { l4: { gpus: { l4: 1 }, gpuMemoryGb: { l4: 22 } } },
      jobDefaults: { partition: 'l4', gpus: { type: 'l4', count: 1 } },
    });
    const tier2 = new ClusterProfile('tier2', {
      scheduler: 'slurm',
      ssh: { host: 'tier2' },
      partitions: { a100: { gpus: { a100: 4 }, gpuMemoryGb: { a100: 80 } } },
      jobDefaults: { partition: 'a100', gpus: { type: 'a100', count: 1 } },
    });
    const stack = Testing.stack({ targets: [tier1, tier2] }, 'rsm');
    new Job(stack, 'full', { requires: { gpuMemoryGb: 40 }, run: ['python train.py'] });
    expect(() => Testing.synth(stack, { target: 'tier2' })).not.toThrow();
    expect(() => Testing.synth(stack, { target: 'tier1' })).toThrow(
      '[rsm/full] requires.gpuMemoryGb: needs 40 GB of GPU memory; l4 on partition l4 on tier1 has 22 GB (got 40)',
    );
  });
});
