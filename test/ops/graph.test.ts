import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  CodeBundle,
  ContainerImage,
  Dataset,
  Job,
  PythonEnv,
  RuntimeRef,
  Sweep,
  Testing,
  type Stack,
} from '../../lib/index.js';
import { dotString, stackGraph, toDot, type StackGraph } from '../../lib/ops/graph.js';
import { REPO } from '../helpers/project.js';

const cluster = new ClusterProfile('gpu-cluster', {
  scheduler: 'slurm',
  ssh: { host: 'gpu-cluster' },
  partitions: { gpu: { maxTime: '1-00:00:00', cpusPerNode: 32, gpus: { a100: 4 } } },
});

/** A stack with every kind the graph draws: code, data, an environment, an image, a job, and a sweep that waits for it. */
function experiment(stack: Stack): void {
  const code = new CodeBundle(stack, 'code', { paths: ['examples/rsm'] });
  const data = new Dataset(stack, 'corpus', { source: RuntimeRef.env('HOME').join('corpus.tar.gz') });
  const env = new PythonEnv(stack, 'env', { requirements: ['numpy==2.1.0'] });
  const image = new ContainerImage(stack, 'image', { from: 'python:3.11-slim' });
  const prep = new Job(stack, 'prep', {
    code,
    stage: [data],
    environment: env,
    allocation: { time: '00:30:00', cpusPerTask: 4 },
    run: ['true'],
  });
  new Sweep(stack, 'train', {
    grid: { lr: [0.1, 0.01, 0.001], seed: [1, 2] },
    image,
    allocation: { nodes: 2, time: '12:00:00', gpus: { type: 'a100', count: 2 } },
    run: ['true'],
  }).dependsOn(prep, 'afterany');
}

function graphOf(build: (stack: Stack) => void, id = 'lab'): StackGraph {
  const stack = Testing.stack({ targets: [cluster] }, id);
  build(stack);
  return stackGraph(Testing.synth(stack, { projectDir: REPO }).manifest);
}

/** What Graphviz itself reads from the DOT: node names and labels, as its JSON output gives them. */
function parsedByDot(dot: string): Array<{ name: string; label: string }> {
  const json = JSON.parse(execFileSync('dot', ['-Tjson'], { input: dot, encoding: 'utf8' })) as {
    objects?: Array<{ name: string; label: string; nodes?: unknown }>;
  };
  return (json.objects ?? []).filter((o) => o.nodes === undefined).map(({ name, label }) => ({ name, label }));
}

/** The lines of text Graphviz draws, in order, as a reader of the SVG sees them. */
function drawnText(dot: string): string[] {
  const svg = execFileSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
  const entities: Record<string, string> = {
    '&quot;': '"',
    '&amp;': '&',
    '&lt;': '<',
    '&gt;': '>',
    '&#45;': '-',
    '&#39;': "'",
  };
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]!.replace(/&[#a-z0-9]+;/g, (e) => entities[e] ?? e),
  );
}

describe('stackGraph', () => {
  it('GIVEN a stack of every kind WHEN graphed THEN each resource is a node and each dependency an edge, scheduler ones with their type', () => {
    const graph = graphOf(experiment);
    expect(graph.nodes.map((n) => `${n.kind}:${n.id}`)).toEqual([
      'code-bundle:code',
      'dataset:corpus',
      'python-env:env',
      'container-image:image',
      'job:prep',
      'sweep:train',
    ]);
    expect(graph.edges).toEqual([
      { from: 'code', to: 'prep' },
      { from: 'corpus', to: 'prep' },
      { from: 'env', to: 'prep' },
      { from: 'image', to: 'train' },
      { from: 'prep', to: 'train', type: 'afterany' },
    ]);
  });

  it("GIVEN a sweep of six points WHEN graphed THEN it is one node labelled with the point count and its points' request", () => {
    const train = graphOf(experiment).nodes.find((n) => n.id === 'train')!;
    expect(train.label).toEqual(['train', 'sweep · 6 points', '2 nodes · 2 CPUs · 2× a100 per node · 12 h']);
  });

  it('GIVEN a job that waits for a sweep WHEN graphed THEN the points collapse into one edge from the sweep', () => {
    const graph = graphOf((stack) => {
      const sweep = new Sweep(stack, 'seeds', { grid: { seed: [1, 2, 3] }, allocation: { time: '10' }, run: ['true'] });
      new Job(stack, 'report', { allocation: { time: '10' }, run: ['true'] }).dependsOn(sweep);
    });
    expect(graph.edges).toEqual([{ from: 'seeds', to: 'report', type: 'afterok' }]);
    expect(graph.nodes.find((n) => n.id === 'report')!.label).toEqual(['report', 'job', '1 node · 1 CPU · 10 min']);
  });

  it('GIVEN the same stack declared in another order WHEN graphed THEN the DOT is byte for byte the same', () => {
    const forwards = toDot([graphOf(experiment)]);
    const backwards = toDot([
      graphOf((stack) => {
        new Job(stack, 'solo', { run: ['true'] });
        experiment(stack);
      }),
    ]);
    expect(backwards.replace(/^ {2}"solo".*\n/m, '')).toBe(forwards);
  });
});

describe('toDot', () => {
  it('GIVEN one stack THEN it is a digraph named after the stack, with a shape and colour per kind', () => {
    const dot = toDot([graphOf(experiment)]);
    expect(dot.startsWith('digraph "lab" {\n')).toBe(true);
    expect(dot).toContain('label="lab on gpu-cluster";');
    expect(dot).toContain(
      '"train" [label="train\\nsweep · 6 points\\n2 nodes · 2 CPUs · 2× a100 per node · 12 h", shape=box3d',
    );
    expect(dot).toContain('"corpus" [label="corpus\\ndataset", shape=cylinder');
    expect(dot).toContain('"prep" -> "train" [label="afterany", style=bold];');
    expect(dot).toContain('"code" -> "prep";');
  });

  it('GIVEN several stacks THEN each is a cluster, and equal addresses in two stacks stay two nodes', () => {
    const dot = toDot([graphOf(experiment, 'zeta'), graphOf(experiment, 'alpha')]);
    expect(dot.indexOf('subgraph "cluster_alpha"')).toBeLessThan(dot.indexOf('subgraph "cluster_zeta"'));
    const nodes = parsedByDot(dot);
    expect(nodes.filter((n) => n.label.startsWith('prep\\n')).map((n) => n.name)).toEqual(['alpha/prep', 'zeta/prep']);
  });

  it('GIVEN labels with quotes, backslashes and newlines THEN Graphviz draws them as written', () => {
    const hostile = 'say "hi" \\ C:\\tmp\\';
    const graph: StackGraph = {
      stack: 'q"s',
      target: 'local',
      nodes: [{ id: hostile, kind: 'job', label: [hostile, 'two\nlines'] }],
      edges: [{ from: hostile, to: hostile }],
    };
    expect(dotString('a"b\\c\nd')).toBe('"a\\"b\\\\c\\nd"');
    expect(drawnText(toDot([graph]))).toEqual(['q"s on local', hostile, 'two', 'lines']);
  });
});
