import { describe, expect, it } from 'vitest';
import { App, ClusterProfile, Job, Stack, TextFile, Testing, ValidationError } from '../../lib/index.js';

describe('App and Stack', () => {
  it('gives each construct a stable address derived from its path', () => {
    // GIVEN a stack with a nested construct
    const stack = Testing.stack({}, 'demo');
    const group = new TextFile(stack, 'top', { content: 'x' });
    // WHEN its address is read
    // THEN it is the path below the stack, the same on every run
    expect(group.address).toBe('top');
    expect(group.node.path).toBe('demo/top');
    expect(Stack.of(group)).toBe(stack);
  });

  it('defaults to the local target and keeps declared targets in order, default first', () => {
    const app = new App();
    const onLaptop = new Stack(app, 'laptop');
    const cluster = new ClusterProfile('narval', {
      scheduler: 'slurm',
      ssh: { host: 'narval' },
      partitions: { gpu: { maxTime: '24:00:00' } },
    });
    const both = new Stack(app, 'both', { targets: [cluster, ClusterProfile.local()] });

    expect(onLaptop.targets.map((t) => t.name)).toEqual(['local']);
    expect(both.defaultTarget.name).toBe('narval');
    expect(both.target('local')?.isLocal).toBe(true);
    expect(both.target('nowhere')).toBeUndefined();
    expect(app.stacks.map((s) => s.stackName)).toEqual(['laptop', 'both']);
  });

  it('lets an undeclared local target be used, as plan and apply --target local do', () => {
    const cluster = new ClusterProfile('narval', { scheduler: 'slurm', ssh: { host: 'narval' } });
    const stack = Testing.stack({ targets: [cluster] });
    expect(stack.target('local')?.name).toBe('local');
  });

  it('layers profile overrides, later layers winning and partitions merging by name', () => {
    const base = new ClusterProfile('drac', {
      scheduler: 'slurm',
      ssh: { host: 'narval' },
      account: 'def-base',
      partitions: { cpu: { maxTime: '3:00:00' } },
    });
    const project = base.extend('drac-project', {
      account: 'def-lab',
      partitions: { gpu: { maxTime: '24:00:00', gpus: { a100: 4 } } },
    });
    expect(project.spec.account).toBe('def-lab');
    expect(Object.keys(project.spec.partitions).sort()).toEqual(['cpu', 'gpu']);
    expect(base.spec.account).toBe('def-base');
  });

  it.each([
    ['maxTime', { maxTime: '2-00:00:00' }, { maxTime: '2-00:00:00' }],
    ['memPerNode', { memPerNode: '512G' }, { memPerNode: '512G' }],
    ['cpusPerNode', { cpusPerNode: 64 }, { cpusPerNode: 64 }],
    ['gpus, merged by type', { gpus: { a100: 4 } }, { gpus: { a100: 4, A40: 4 } }],
    ['gpuMemoryGb, merged by type', { gpuMemoryGb: { a100: 80 } }, { gpuMemoryGb: { a100: 80, A40: 48 } }],
  ])(
    'GIVEN a partition with %s WHEN the profile is extended with other fields of that partition THEN the limit is kept',
    (_field, declared, kept) => {
      const base = new ClusterProfile('c1', {
        scheduler: 'slurm',
        ssh: { host: 'c1' },
        partitions: { gpu: { ...declared } },
      });
      const extended = base.extend('c2', { partitions: { gpu: { gpus: { A40: 4 }, gpuMemoryGb: { A40: 48 } } } });
      expect(extended.spec.partitions.gpu).toMatchObject(kept);
      expect(extended.spec.partitions.gpu?.gpus?.A40).toBe(4);
      // The base profile is unchanged.
      expect(base.spec.partitions.gpu).toEqual(declared);
    },
  );

  it('GIVEN an extended partition WHEN a job asks for more time than the base allowed THEN synth still refuses it', () => {
    const base = new ClusterProfile('c1', {
      scheduler: 'slurm',
      ssh: { host: 'c1' },
      partitions: { gpu: { maxTime: '2-00:00:00', gpus: { a100: 4 } } },
    });
    const c2 = base.extend('c2', { partitions: { gpu: { gpus: { A40: 4 } } } });
    const stack = Testing.stack({ targets: [c2] });
    new Job(stack, 'long', { allocation: { partition: 'gpu', time: '3-00:00:00' }, run: ['true'] });
    expect(() => Testing.synth(stack)).toThrow(/time/);
  });

  it('GIVEN a stack with misspelled props WHEN synthesized THEN each is refused, naming the field it was likely meant to be', () => {
    const hpc = new ClusterProfile('hpc', { scheduler: 'slurm', ssh: { host: 'hpc' } });
    const stack = new Stack(Testing.app(), 'x', { target: [hpc], descripton: 'typo', colour: 'blue' } as never);
    new TextFile(stack, 'f', { content: 'x' });
    const synth = () => Testing.synth(stack);
    expect(synth).toThrow('[x] target: unknown field; did you mean targets?');
    expect(synth).toThrow('[x] descripton: unknown field; did you mean description?');
    // Nothing near enough to suggest.
    expect(synth).toThrow(/\[x\] colour: unknown field$/m);
  });

  it('refuses a slurm profile without ssh, naming the field', () => {
    expect(() => new ClusterProfile('bad', { scheduler: 'slurm' })).toThrow(
      /\[target:bad\] ssh: a slurm target needs an ssh connection/,
    );
  });

  it('reports every bad prop of every construct at once, with construct paths', () => {
    // GIVEN two constructs with three bad fields between them
    const stack = Testing.stack({}, 'demo');
    new TextFile(stack, 'a', { content: 42 as unknown as string, fileName: '../escape' });
    new TextFile(stack, 'b', { content: 'ok', executable: 'yes' as unknown as boolean });
    // WHEN the stack is synthesized
    let error: ValidationError | undefined;
    try {
      Testing.synth(stack);
    } catch (e) {
      error = e as ValidationError;
    }
    // THEN all three are listed in the `[path] field: message (got X)` form
    expect(error).toBeInstanceOf(ValidationError);
    const lines = error!.message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
    expect(lines).toHaveLength(3);
    expect(lines).toContain('[demo/a] content: Invalid input: expected string, received number (got 42)');
    expect(lines.find((l) => l.startsWith('[demo/a] fileName: must be a plain file name'))).toMatch(
      /\(got "\.\.\/escape"\)$/,
    );
    expect(lines.find((l) => l.startsWith('[demo/b] executable:'))).toMatch(/\(got "yes"\)$/);
  });

  it('names unknown fields and missing required ones', () => {
    const stack = Testing.stack({}, 'demo');
    new TextFile(stack, 'c', { contnt: 'typo' } as unknown as { content: string });
    expect(() => Testing.synth(stack)).toThrow(/\[demo\/c\] contnt: unknown field/);
    expect(() => Testing.synth(stack)).toThrow(/\[demo\/c\] content: is required \(got nothing\)/);
  });

  it('refuses stack names that cannot be folder names', () => {
    const stack = new Stack(new App(), 'Bad Name');
    expect(() => Testing.synth(stack)).toThrow(/\[Bad Name\] id: a stack name must be lowercase/);
  });

  it('refuses construct ids that cannot be folder names', () => {
    const stack = Testing.stack();
    new TextFile(stack, 'has space', { content: '' });
    expect(() => Testing.synth(stack)).toThrow(/\[test\/has space\] id: a construct id may hold only/);
  });
});
