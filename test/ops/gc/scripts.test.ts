import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GcItem } from '../../../lib/ops/gc/decide.js';
import { inventoryScript, parseInventory } from '../../../lib/ops/gc/inventory.js';
import { parseRemoval, removalScript } from '../../../lib/ops/gc/remove.js';
import { LITERALS_DIRECTIVE, RuntimeRef } from '../../../lib/shell/index.js';
import { LocalScheduler } from '../../../lib/targets/local-scheduler.js';
import { SlurmScheduler } from '../../../lib/targets/slurm-scheduler.js';
import { LocalTransport } from '../../../lib/targets/transport.js';
import { lintScript } from '../../helpers/shellcheck.js';

const transport = new LocalTransport();
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
/** A name no shell may split or expand. */
const HOSTILE = `it's $(touch pwned) "x" y.out`;

function write(root: string, path: string, content: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

/** A base path holding stack `demo` as apply and a build would leave it, plus what a killed gc left. */
function fabricate(): { base: string; d: string } {
  const base = mkdtempSync(join(tmpdir(), 'hpcdk-gc-scripts-'));
  made.push(base);
  const d = join(base, 'demo');
  write(d, '.hpcdk/journal', `file old/a.txt ${'1'.repeat(64)} 1\njob eval ${'2'.repeat(64)} 7 2\n`);
  write(d, 'files/old/a.txt', 'old');
  write(d, `logs/eval/${HOSTILE}`, 'output');
  write(d, 'params/grid/0123456789abcdef.sh', 'export lr=1\n');
  write(d, 'images/image/h0000000000000001.built-with', 'apptainer\napptainer build from image.def\n');
  write(d, 'images/image/h0000000000000001.sif', 'SIF');
  write(d, '.hpcdk/locks/nested/image/lock.txt', 'image: localhost/x:h1\n');
  write(d, 'bundles/code/0123456789abcdef/.hpcdk-commit', 'abc\n');
  write(d, 'bundles/code/0123456789abcdef/train.py', 'print(1)\n');
  write(d, 'bundles/code/fedcba9876543210.partial/train.py', 'print(2)\n');
  mkdirSync(join(base, '.hpcdk-gc-gone-12'));
  mkdirSync(join(base, 'not-a-stack'));
  return { base, d };
}

const request = (base: string) => ({ base, scheduler: new LocalScheduler(), podmanArgs: [] });

async function inventory(base: string) {
  const r = await transport.run(inventoryScript(request(base)));
  expect(r.exitCode, r.stderr).toBe(0);
  return parseInventory(r.stdout, request(base), (s) => `${s}~test`);
}

const item = (steps: GcItem['steps'], stack = 'demo'): GcItem => ({
  stack,
  kind: 'leftover',
  what: 'x',
  size: 0,
  age: 0,
  remove: true,
  reason: 'test',
  steps,
});

describe('the inventory script', () => {
  it('GIVEN a stack folder WHEN read in one script THEN every listing comes back exactly, hostile file names included, and only stack folders count', async () => {
    const { base } = fabricate();
    const inv = await inventory(base);
    expect([...inv.stacks.keys()]).toEqual(['demo']);
    expect(inv.trash).toEqual(['.hpcdk-gc-gone-12']);
    expect(inv.schedulerOk).toBe(true);
    const demo = inv.stacks.get('demo')!;
    expect(demo.serial).toBe(2);
    expect(demo.journal).toContain('job eval');
    expect(demo.logs.map((e) => [e.path, e.size])).toEqual([[`logs/eval/${HOSTILE}`, 6]]);
    expect(existsSync(join(base, 'demo', 'pwned'))).toBe(false);
    expect(demo.files.map((e) => e.path)).toEqual(['files/old/a.txt']);
    expect(demo.params.map((e) => e.path)).toEqual(['params/grid/0123456789abcdef.sh']);
    expect(demo.records.get('images/image/h0000000000000001.built-with')).toBe('apptainer');
    expect(demo.sifSha256.get('images/image/h0000000000000001.sif')).toBe(
      createHash('sha256').update('SIF').digest('hex'),
    );
    expect(demo.packageLocks.get('nested/image')).toBe('image: localhost/x:h1\n');
    expect(demo.bundles.map((e) => e.path).sort()).toEqual([
      'bundles/code/0123456789abcdef',
      'bundles/code/fedcba9876543210.partial',
    ]);
    expect(demo.bundles.every((e) => e.size > 0)).toBe(true);
    expect(Math.abs(inv.now - Date.now() / 1000)).toBeLessThan(60);
  });
});

describe('the scripts as shell', () => {
  it('GIVEN either scheduler and every kind of removal WHEN rendered THEN bash parses them and shellcheck has nothing to say', () => {
    const base = RuntimeRef.env('HOME').join('.hpcdk');
    for (const scheduler of [new LocalScheduler(), new SlurmScheduler()]) {
      expect(
        lintScript(
          `#!/usr/bin/env bash\n${inventoryScript({ base, scheduler, podmanArgs: [['--storage-driver', 'vfs'], []] })}`,
        ),
      ).toBe('');
    }
    const steps: GcItem['steps'] = [
      { op: 'rmi', ref: 'localhost/hpcdk-x:h1', args: ['--storage-driver', 'vfs'] },
      { op: 'rm', path: `logs/${HOSTILE}` },
      { op: 'rmtree', path: 'bundles/code/0123456789abcdef' },
      { op: 'rmfile', path: 'a/b.txt' },
      { op: 'rmstack' },
    ];
    const script = removalScript(
      base,
      [{ stack: 'demo', stackDir: base.join('demo'), serial: 3, items: [{ index: 0, item: item(steps) }] }],
      [{ index: 1, item: item([{ op: 'rmtrash', name: '.hpcdk-gc-x' }], '') }],
    );
    // Values are single-quoted literals on purpose, as in every rendered script.
    expect(lintScript(`#!/usr/bin/env bash\n${LITERALS_DIRECTIVE}\n${script}`)).toBe('');
  });
});

describe('the removal script', () => {
  it('GIVEN removals WHEN run THEN a deployed file is journaled as removed, folders go, the lock is taken and released, and trash under the base path is cleared', async () => {
    const { base, d } = fabricate();
    const inv = await inventory(base);
    const items = [
      item([{ op: 'rmfile', path: 'old/a.txt' }]),
      item([{ op: 'rmtree', path: 'bundles/code/0123456789abcdef' }]),
      item([{ op: 'rm', path: `logs/eval/${HOSTILE}` }]),
    ];
    const script = removalScript(
      base,
      [
        {
          stack: 'demo',
          stackDir: d,
          serial: inv.stacks.get('demo')!.serial,
          items: items.map((x, index) => ({ index, item: x })),
        },
      ],
      [{ index: 3, item: item([{ op: 'rmtrash', name: '.hpcdk-gc-gone-12' }], '') }],
    );
    const r = await transport.run(script);
    const result = parseRemoval(r.stdout);
    expect(result.failed).toEqual(new Map());
    expect([...result.removed].sort()).toEqual([0, 1, 2, 3]);
    expect(result.finished).toBe(true);
    expect(readFileSync(join(d, '.hpcdk/journal'), 'utf8')).toMatch(/\nrmfile old\/a\.txt \d+\n$/);
    expect(existsSync(join(d, 'files/old/a.txt'))).toBe(false);
    expect(existsSync(join(d, 'bundles/code/0123456789abcdef'))).toBe(false);
    expect(existsSync(join(d, 'bundles/code/.hpcdk-gc-0123456789abcdef'))).toBe(false);
    expect(existsSync(join(d, `logs/eval/${HOSTILE}`))).toBe(false);
    expect(existsSync(join(base, '.hpcdk-gc-gone-12'))).toBe(false);
    expect(existsSync(join(d, '.hpcdk/lock'))).toBe(false);
  });

  it('GIVEN the lock is held by a live apply WHEN gc runs THEN it removes nothing in that stack and says who holds it', async () => {
    const { base, d } = fabricate();
    const inv = await inventory(base);
    const owner = `someone@${hostname()} op=apply host=${hostname()} pid=${process.pid} since=${Math.floor(Date.now() / 1000)}`;
    write(d, '.hpcdk/lock/owner', `${owner}\n`);
    const r = await transport.run(
      removalScript(base, [
        {
          stack: 'demo',
          stackDir: d,
          serial: inv.stacks.get('demo')!.serial,
          items: [{ index: 0, item: item([{ op: 'rm', path: 'params/grid/0123456789abcdef.sh' }]) }],
        },
      ]),
    );
    const result = parseRemoval(r.stdout);
    expect(result.locked.get('demo')).toBe(owner);
    expect(result.removed.size).toBe(0);
    expect(existsSync(join(d, 'params/grid/0123456789abcdef.sh'))).toBe(true);
    expect(readFileSync(join(d, '.hpcdk/lock/owner'), 'utf8')).toBe(`${owner}\n`);
  });

  it('GIVEN an apply changed the journal since the inventory WHEN gc runs THEN it refuses that stack and removes nothing', async () => {
    const { base, d } = fabricate();
    const inv = await inventory(base);
    writeFileSync(
      join(d, '.hpcdk/journal'),
      `${readFileSync(join(d, '.hpcdk/journal'), 'utf8')}job eval ${'3'.repeat(64)} 8 3\n`,
    );
    const r = await transport.run(
      removalScript(base, [
        {
          stack: 'demo',
          stackDir: d,
          serial: inv.stacks.get('demo')!.serial,
          items: [{ index: 0, item: item([{ op: 'rm', path: 'params/grid/0123456789abcdef.sh' }]) }],
        },
      ]),
    );
    const result = parseRemoval(r.stdout);
    expect([...result.stale]).toEqual(['demo']);
    expect(existsSync(join(d, 'params/grid/0123456789abcdef.sh'))).toBe(true);
    expect(existsSync(join(d, '.hpcdk/lock'))).toBe(false);
  });

  it('GIVEN an orphan stack folder WHEN removed THEN it is gone whole, with no trash left', async () => {
    const { base, d } = fabricate();
    const inv = await inventory(base);
    const r = await transport.run(
      removalScript(base, [
        {
          stack: 'demo',
          stackDir: d,
          serial: inv.stacks.get('demo')!.serial,
          items: [{ index: 0, item: item([{ op: 'rmstack' }]) }],
        },
      ]),
    );
    expect(parseRemoval(r.stdout).removed.has(0)).toBe(true);
    expect(existsSync(d)).toBe(false);
    expect((await inventory(base)).trash).toEqual(['.hpcdk-gc-gone-12']);
  });
});
