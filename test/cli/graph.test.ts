import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

const lab = `import { App, ClusterProfile, Dataset, Job, RuntimeRef, Stack, Sweep } from 'hpcdk';
const big = new ClusterProfile('big', {
  scheduler: 'slurm',
  ssh: { host: 'big' },
  partitions: { gpu: { maxTime: '2-00:00:00', gpus: { a100: 4 } } },
  jobDefaults: { time: '1-00:00:00', gpus: { type: 'a100', count: 1 } },
});
const app = new App();
const s = new Stack(app, 'lab', { targets: [ClusterProfile.local(), big] });
const data = new Dataset(s, 'data', { source: RuntimeRef.env('HOME').join('data.zip') });
const prep = new Job(s, 'prep', { stage: [data], allocation: { time: '00:20:00' }, run: ['true'] });
new Sweep(s, 'train', { grid: { seed: [1, 2, 3, 4] }, run: ['true'] }).dependsOn(prep);
`;

const other = `import { App, Job, Stack } from 'hpcdk';
new Job(new Stack(new App(), 'other'), 'prep', { allocation: { time: '5' }, run: ['true'] });
`;

describe('hpcdk graph', () => {
  it('GIVEN a stack WHEN graph STACK THEN prints its DOT on stdout, the sweep as one node', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab, 'stacks/other.ts': other });
    const r = await hpcdk(dir, ['graph', 'lab']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.startsWith('digraph "lab" {\n')).toBe(true);
    expect(r.stdout).toContain('label="lab on local";');
    expect(r.stdout).toContain(
      '"train" [label="train\\nsweep · 4 points\\n1 node · 1 CPU · no time limit", shape=box3d',
    );
    expect(r.stdout).toContain('"data" -> "prep";');
    expect(r.stdout).toContain('"prep" -> "train" [label="afterok", style=bold];');
    expect(r.stdout).not.toContain('other');
  });

  it('GIVEN --target WHEN graph THEN the requests are those on that target', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab });
    const r = await hpcdk(dir, ['graph', 'lab', '--target', 'big']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('label="lab on big";');
    expect(r.stdout).toContain('"train" [label="train\\nsweep · 4 points\\n1 node · 1 CPU · 1× a100 · 24 h"');
  });

  it('GIVEN several stacks and no STACK WHEN graph THEN one graph with a cluster per stack', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab, 'stacks/other.ts': other });
    const r = await hpcdk(dir, ['graph']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('subgraph "cluster_lab" {');
    expect(r.stdout).toContain('subgraph "cluster_other" {');
    expect(r.stdout).toContain('"lab/prep" -> "lab/train"');
    expect(r.stdout).toContain('"other/prep" [label="prep\\njob');
    // Deterministic: the same project gives the same bytes.
    expect((await hpcdk(dir, ['graph'])).stdout).toBe(r.stdout);
  });

  it('GIVEN --format svg WHEN graph THEN Graphviz renders it, labels and all', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab });
    const r = await hpcdk(dir, ['graph', 'lab', '--format', 'svg']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.startsWith('<?xml')).toBe(true);
    expect(r.stdout).toContain('<svg');
    expect(r.stdout).toContain('>sweep · 4 points</text>');
  });

  it('GIVEN --out FILE.svg WHEN graph THEN the SVG is written to the file and nothing to stdout', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab });
    const r = await hpcdk(dir, ['graph', 'lab', '--out', 'lab.svg']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Wrote lab.svg (svg).');
    const svg = readFileSync(join(dir, 'lab.svg'), 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('<svg');
    const dot = await hpcdk(dir, ['graph', 'lab', '--out', 'lab.gv']);
    expect(dot.exitCode, dot.stderr).toBe(0);
    expect(readFileSync(join(dir, 'lab.gv'), 'utf8').startsWith('digraph "lab" {')).toBe(true);
  });

  it('GIVEN no dot on PATH WHEN graph --format svg THEN exit 1 naming the package to install, and no file', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab });
    // A PATH holding node and nothing else.
    const bin = mkdtempSync(join(tmpdir(), 'hpcdk-nodot-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      const r = await hpcdk(dir, ['graph', 'lab', '--format', 'svg', '--out', 'lab.svg'], { PATH: bin });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain("needs Graphviz's dot, which is not on PATH: install it (apt-get install graphviz)");
      expect(existsSync(join(dir, 'lab.svg'))).toBe(false);
      // DOT needs no Graphviz.
      const dot = await hpcdk(dir, ['graph', 'lab'], { PATH: bin });
      expect(dot.exitCode, dot.stderr).toBe(0);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('GIVEN bad input WHEN graph THEN exit 1: an unknown stack lists the stacks, an unknown format the choices, an invalid stack its errors', async () => {
    const dir = makeProject({ 'stacks/lab.ts': lab, 'stacks/other.ts': other });
    const unknown = await hpcdk(dir, ['graph', 'nope']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('no stack named nope (stacks: lab, other)');
    const format = await hpcdk(dir, ['graph', 'lab', '--format', 'png']);
    expect(format.exitCode).toBe(1);
    expect(format.stderr).toContain('Allowed choices are dot, svg');
    const bad = makeProject({ 'stacks/bad.ts': other.replace("time: '5'", "time: 'soon'") });
    const invalid = await hpcdk(bad, ['graph']);
    expect(invalid.exitCode).toBe(1);
    expect(invalid.stderr).toContain('[other/prep] allocation.time: must be a SLURM time');
  });
});
