import { ResourceKind, runGroup, runSpecOf, type ResourceRequest } from '../core/resource-spec.js';
import type { ManifestResource } from '../core/output.js';
import type { Manifest } from '../synth/manifest.js';

/** One box of the graph: a resource, or a whole sweep (its points collapsed). */
export interface GraphNode {
  /** Unique in the graph: the resource's address, or the sweep's. */
  readonly id: string;
  readonly kind: string;
  /** Shown one per line. */
  readonly label: readonly string[];
}

/** `from` is needed by `to`; `type` is the scheduler dependency when both are batch work. */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly type?: string;
}

/** One stack's dependency graph on one target. Nodes and edges are sorted. */
export interface StackGraph {
  readonly stack: string;
  readonly target: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** The node a resource is drawn as: a sweep point is drawn as its sweep. */
const nodeIdOf = runGroup;

function formatMinutes(minutes: number): string {
  if (minutes < 60) return `${minutes} min`;
  return `${Number((minutes / 60).toFixed(1))} h`;
}

/** `2 nodes · 16 CPUs · 1× a100 per node · 48 h`, from the request jobs carry in the manifest. */
export function describeRequest(r: ResourceRequest): string {
  const parts = [`${r.nodes} node${r.nodes === 1 ? '' : 's'}`, `${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`];
  if (r.gpus) parts.push(`${r.gpus.count}× ${r.gpus.type ?? 'GPU'}${r.nodes > 1 ? ' per node' : ''}`);
  parts.push(r.timeMinutes === null ? 'no time limit' : formatMinutes(r.timeMinutes));
  return parts.join(' · ');
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The graph of a synthesized manifest: every resource, with a sweep's points as one node. Pure. */
export function stackGraph(manifest: Manifest): StackGraph {
  const resources = manifest.resources;
  const nodeOf = new Map(resources.map((r) => [r.address, nodeIdOf(r)]));
  const members = new Map<string, ManifestResource[]>();
  for (const r of resources) members.set(nodeIdOf(r), [...(members.get(nodeIdOf(r)) ?? []), r]);

  const nodes: GraphNode[] = [...members.entries()].map(([id, rs]) => {
    const first = rs[0]!;
    const kind = first.kind === ResourceKind.sweepPoint ? 'sweep' : first.kind;
    const label = [id, kind === 'sweep' ? `sweep · ${rs.length} point${rs.length === 1 ? '' : 's'}` : kind];
    const request = runSpecOf(first)?.request;
    if (request) label.push(describeRequest(request));
    return { id, kind, label };
  });

  const edges = new Map<string, GraphEdge>();
  for (const r of resources) {
    const to = nodeIdOf(r);
    // Jobs and sweeps wait for others by address: the sweep's own, for a sweep.
    const schedulerTypes = new Map((runSpecOf(r)?.dependencies ?? []).map((d) => [d.address, d.type]));
    for (const dependency of r.dependsOn) {
      const from = nodeOf.get(dependency) ?? dependency;
      if (from === to) continue;
      const type = schedulerTypes.get(from);
      edges.set(`${from}\u0000${to}`, { from, to, ...(type !== undefined ? { type } : {}) });
    }
  }
  return {
    stack: manifest.stack,
    target: String(manifest.target.name),
    nodes: nodes.sort((a, b) => byString(a.id, b.id)),
    edges: [...edges.values()].sort((a, b) => byString(a.from, b.from) || byString(a.to, b.to)),
  };
}

/** How each kind is drawn: environments green, images yellow, data orange, code purple, batch work blue. */
const STYLE: Readonly<Record<string, { shape: string; fill: string; style?: string }>> = {
  job: { shape: 'box', fill: '#dbeafe', style: 'filled,rounded' },
  sweep: { shape: 'box3d', fill: '#93c5fd' },
  'python-env': { shape: 'component', fill: '#dcfce7' },
  'conda-env': { shape: 'component', fill: '#dcfce7' },
  wheelhouse: { shape: 'folder', fill: '#ecfccb' },
  'container-image': { shape: 'tab', fill: '#fef08a' },
  dataset: { shape: 'cylinder', fill: '#fed7aa' },
  'code-bundle': { shape: 'note', fill: '#e9d5ff' },
  file: { shape: 'note', fill: '#f3f4f6' },
};
const OTHER_STYLE = { shape: 'ellipse', fill: '#ffffff' };

/**
 * A DOT quoted string. Backslashes are doubled, so that in labels (escString)
 * they show as themselves rather than start an escape, and quotes are escaped.
 */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/** A label of several lines: each line quoted as text, joined by DOT's centred line break. */
function dotLabel(lines: readonly string[]): string {
  return `"${lines.map((l) => dotString(l).slice(1, -1)).join('\\n')}"`;
}

function graphLines(graph: StackGraph, prefix: string, indent: string): string[] {
  const id = (node: string) => dotString(`${prefix}${node}`);
  const lines = graph.nodes.map((n) => {
    const s = STYLE[n.kind] ?? OTHER_STYLE;
    return `${indent}${id(n.id)} [label=${dotLabel(n.label)}, shape=${s.shape}, style=${dotString(s.style ?? 'filled')}, fillcolor=${dotString(s.fill)}];`;
  });
  for (const e of graph.edges) {
    const attrs = e.type !== undefined ? ` [label=${dotString(e.type)}, style=bold]` : '';
    lines.push(`${indent}${id(e.from)} -> ${id(e.to)}${attrs};`);
  }
  return lines;
}

const DEFAULTS = [
  '  graph [rankdir=LR, fontname="Helvetica", labelloc=t];',
  '  node [fontname="Helvetica", fontsize=11];',
  '  edge [fontname="Helvetica", fontsize=9, color="#475569"];',
];

/**
 * Graphviz DOT for one stack, or for several as one graph with a cluster per
 * stack (node ids prefixed with `<stack>/` so they cannot collide). Arrows
 * point from what is needed to what needs it. Deterministic.
 */
export function toDot(graphs: readonly StackGraph[]): string {
  if (graphs.length === 1) {
    const g = graphs[0]!;
    return [
      `digraph ${dotString(g.stack)} {`,
      ...DEFAULTS,
      `  label=${dotString(`${g.stack} on ${g.target}`)};`,
      ...graphLines(g, '', '  '),
      '}',
      '',
    ].join('\n');
  }
  const sorted = [...graphs].sort((a, b) => byString(a.stack, b.stack));
  const clusters = sorted.flatMap((g) => [
    `  subgraph ${dotString(`cluster_${g.stack}`)} {`,
    `    label=${dotString(`${g.stack} on ${g.target}`)};`,
    ...graphLines(g, `${g.stack}/`, '    '),
    '  }',
  ]);
  return ['digraph "hpcdk" {', ...DEFAULTS, ...clusters, '}', ''].join('\n');
}
