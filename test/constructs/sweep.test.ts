import { describe, expect, it, onTestFinished } from 'vitest';
import { ClusterProfile, Job, RuntimeRef, Sweep, Testing, renderParamsFile } from '../../lib/index.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintScript } from '../helpers/shellcheck.js';

describe('Sweep', () => {
  it('makes one resource per point of the grid and the list, with stable readable addresses', () => {
    const stack = Testing.stack({}, 'rl');
    const sweep = new Sweep(stack, 'ppo', {
      grid: { lr: [0.001, 0.0003], seed: [1, 2] },
      points: [{ lr: 0.01, seed: 9 }],
      run: [['python', 'train.py', '--lr', 'x']],
    });
    const out = Testing.synth(stack);
    expect(out.resources.map((r) => r.address)).toEqual([
      'ppo/lr=0.0003,seed=1',
      'ppo/lr=0.0003,seed=2',
      'ppo/lr=0.001,seed=1',
      'ppo/lr=0.001,seed=2',
      'ppo/lr=0.01,seed=9',
    ]);
    expect(out.resources.every((r) => r.kind === 'sweep-point' && r.artifacts[0] === 'ppo/sweep.sbatch')).toBe(true);
    expect(sweep.param('lr').toString()).toBe('$lr');
    const script = out.file('ppo/sweep.sbatch');
    expect(script).toContain('#SBATCH --output=logs/ppo/%x-%A_%a.out');
    expect(script).toContain('source "${HPCDK_PARAMS_FILE:?submitted by hpcdk apply}"');
    expect(lintScript(script)).toBe('');
  });

  it('adds one point without touching the others', () => {
    const build = (seeds: number[]) => {
      const stack = Testing.stack({}, 'rl');
      new Sweep(stack, 'ppo', { grid: { seed: seeds }, run: ['true'] });
      return Testing.synth(stack).resources;
    };
    const before = build([1, 2]);
    const after = build([1, 2, 3]);
    expect(after).toHaveLength(3);
    for (const r of before) expect(after.find((a) => a.address === r.address)?.identity).toBe(r.identity);
  });

  it('names points with unusual values by a hash, and refuses reserved or repeated parameters', () => {
    const stack = Testing.stack({}, 'rl');
    new Sweep(stack, 'odd', { points: [{ tag: 'a b' }], run: ['true'] });
    expect(Testing.synth(stack).resources[0]!.address).toMatch(/^odd\/p-[0-9a-f]{12}$/);

    const bad = Testing.stack({}, 'rl');
    new Sweep(bad, 'clash', { grid: { PATH: ['x'], SLURM_JOB_ID: ['y'] }, run: ['true'] });
    new Sweep(bad, 'twice', { points: [{ a: 1 }, { a: 1 }], run: ['true'] });
    new Sweep(bad, 'empty', { run: ['true'] });
    let message = '';
    try {
      Testing.synth(bad);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('[rl/clash] grid.PATH: is reserved');
    expect(message).toContain('[rl/clash] grid.SLURM_JOB_ID: is reserved');
    let second = '';
    const bad2 = Testing.stack({}, 'rl');
    new Sweep(bad2, 'twice', { points: [{ a: 1 }, { a: 1 }], run: ['true'] });
    new Sweep(bad2, 'empty', { run: ['true'] });
    try {
      Testing.synth(bad2);
    } catch (e) {
      second = (e as Error).message;
    }
    expect(second).toContain('[rl/twice] points[1]: repeats point a=1');
    expect(second).toContain('[rl/empty] grid: a sweep needs at least one point (a grid or points)');
  });

  it("GIVEN Sweep.param for a name the sweep lacks WHEN synthesized THEN synth refuses it, naming the field and the sweep's parameters", () => {
    const stack = Testing.stack({}, 'rl');
    new Sweep(stack, 'grid', {
      grid: { lr: [0.1, 0.2], seed: [1] },
      env: { MOMENTUM: Sweep.param('momentum') },
      run: [['python3', 'train.py', '--lr', Sweep.param('lr'), '--momentum', Sweep.param('momentum')]],
    });
    const synth = () => Testing.synth(stack);
    expect(synth).toThrow(
      `[rl/grid] run[0][5]: Sweep.param('momentum') is not a parameter of this sweep (has: lr, seed) (got "momentum")`,
    );
    expect(synth).toThrow(`[rl/grid] env.MOMENTUM: Sweep.param('momentum') is not a parameter of this sweep`);
    // Its own parameters, and plain environment references, are fine.
    const ok = Testing.stack({}, 'rl');
    new Sweep(ok, 'grid', { grid: { lr: [0.1] }, run: [['echo', Sweep.param('lr'), RuntimeRef.env('SLURM_JOB_ID')]] });
    expect(() => Testing.synth(ok)).not.toThrow();
  });

  it('refuses an array larger than the target allows when chunking is off', () => {
    const small = new ClusterProfile('small', { scheduler: 'slurm', ssh: { host: 'c' }, maxArraySize: 3 });
    const stack = Testing.stack({ targets: [small] }, 'rl');
    new Sweep(stack, 'big', { grid: { seed: [1, 2, 3, 4] }, chunking: false, run: ['true'] });
    expect(() => Testing.synth(stack)).toThrow(
      '[rl/big] chunking: 4 points make an array larger than small allows (MaxArraySize 3)',
    );
  });

  it('makes a job that depends on a sweep depend on every point', () => {
    const stack = Testing.stack({}, 'rl');
    const sweep = new Sweep(stack, 'ppo', { grid: { seed: [1, 2] }, run: ['true'] });
    new Job(stack, 'report', { run: ['true'] }).dependsOn(sweep);
    expect(Testing.synth(stack).resource('report').dependsOn).toEqual(['ppo/seed=1', 'ppo/seed=2']);
  });
});

describe('the params file', () => {
  it('exports each task its own parameters, quoted, and fails for an index it does not know', () => {
    const text = renderParamsFile('ppo', 'c0ffee', [
      { index: 0, identity: 'a'.repeat(64), address: 'ppo/x', key: 'x', params: { lr: 0.001, tag: "it's $(id)" } },
      { index: 1, identity: 'b'.repeat(64), address: 'ppo/y', key: 'y', params: { lr: 0.01, tag: 'plain' } },
    ]);
    expect(lintScript(text)).toBe('');
    const dir = mkdtempSync(join(tmpdir(), 'hpcdk-params-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'params.sh');
    writeFileSync(file, text);
    const run = (index: string) =>
      execFileSync(
        'bash',
        [
          '-c',
          `SLURM_ARRAY_TASK_ID=${index}; source "$1"; printf '%s|%s|%s' "$HPCDK_POINT" "$lr" "$tag"`,
          'bash',
          file,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    expect(run('0')).toBe("x|0.001|it's $(id)");
    expect(run('1')).toBe('y|0.01|plain');
    expect(() => run('7')).toThrow(/no parameters for array index 7/);
  });
});
