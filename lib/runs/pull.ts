/**
 * `hpcdk pull`: runs brought back into the project. On the target, one
 * script resolves each job's log folder and output destinations and links
 * them into a temporary view laid out as the project's
 * `runs/<stack>/<target>/` is; one `rsync -a` then copies that view (links
 * followed), so only what is new travels, in one transfer.
 */
import type { ManifestResource } from '../core/output.js';
import { quote, rshCommand, word, type ShellValue } from '../shell/index.js';
import { isRunnable, isSweepPoint, runGroup } from '../core/resource-spec.js';
import { STATE_DIR } from '../state/layout.js';

/** A job or a sweep, and where its declared outputs are kept (shell words, as the target's bash writes them). */
export interface PullUnit {
  readonly address: string;
  readonly kind: 'job' | 'sweep';
  readonly outputs: readonly string[];
}

/** The project folder runs are pulled into: `runs/<stack>/<target>/<address>/{logs,outputs/<i>}/`. */
export const RUNS_DIR = 'runs';

/**
 * The jobs and sweeps of a synthesis, all of them or those named (a sweep
 * point stands for its sweep). Names that are neither are returned apart.
 */
export function pullUnits(
  resources: readonly ManifestResource[],
  named: readonly string[],
): { units: PullUnit[]; unknown: string[] } {
  const all = new Map<string, PullUnit>();
  const pointOf = new Map<string, string>();
  for (const r of resources) {
    if (!isRunnable(r)) continue;
    const address = runGroup(r);
    if (isSweepPoint(r)) pointOf.set(r.address, address);
    if (all.has(address)) continue;
    const outputs = r.spec.outputs.map((o) => o.to);
    all.set(address, { address, kind: isSweepPoint(r) ? 'sweep' : 'job', outputs });
  }
  if (named.length === 0) return { units: [...all.values()], unknown: [] };
  const picked = new Map<string, PullUnit>();
  const unknown: string[] = [];
  for (const name of named) {
    const unit = all.get(name) ?? all.get(pointOf.get(name) ?? '');
    if (unit) picked.set(unit.address, unit);
    else unknown.push(name);
  }
  return { units: [...picked.values()], unknown };
}

/**
 * The script that builds the view under the stack folder and says what it
 * found, NUL-terminated records of tab-separated fields:
 * `view <dir>`, `logs <address>`, `out <address> <i> <path>`,
 * `missing <address> <i> <path>`; `none` when the stack was never applied there.
 */
export function viewScript(
  stackDir: ShellValue,
  viewName: string,
  units: readonly PullUnit[],
  withOutputs: boolean,
): string {
  const lines = [
    `export HPCDK_STACK_DIR=${word(stackDir)}`,
    `if [ ! -d "$HPCDK_STACK_DIR" ]; then printf 'none\\0'; exit 0; fi`,
    `hpcdk_view="$HPCDK_STACK_DIR/${STATE_DIR}/"${quote(viewName)}`,
    'mkdir -p "$hpcdk_view" || exit 1',
    `printf 'view\\t%s\\0' "$hpcdk_view"`,
    '# A link named $2 in the view, to the folder $1.',
    'hpcdk_link() { mkdir -p "$(dirname "$hpcdk_view/$2")" && ln -s "$1" "$hpcdk_view/$2"; }',
  ];
  for (const u of units) {
    const a = quote(u.address);
    lines.push(
      `if [ -d "$HPCDK_STACK_DIR/logs/"${a} ]; then hpcdk_link "$HPCDK_STACK_DIR/logs/"${a} ${quote(`${u.address}/logs`)} && printf 'logs\\t%s\\0' ${a}; fi`,
    );
    if (!withOutputs) continue;
    for (const [i, to] of u.outputs.entries()) {
      // `to` is a word synth rendered (a quoted path or "${VAR}/…"): evaluated here, where its variables mean what they mean to the job.
      lines.push(
        `hpcdk_to=${to}`,
        `if [ -d "$hpcdk_to" ]; then hpcdk_link "$hpcdk_to" ${quote(`${u.address}/outputs/${i}`)} && printf 'out\\t%s\\t%s\\t%s\\0' ${a} ${i} "$hpcdk_to"; else printf 'missing\\t%s\\t%s\\t%s\\0' ${a} ${i} "$hpcdk_to"; fi`,
      );
    }
  }
  return lines.join('\n');
}

/** What the view script found. */
export interface PullView {
  /** The view folder on the target; undefined when the stack was never applied there. */
  readonly dir?: string;
  readonly logs: ReadonlySet<string>;
  /** Outputs found and linked, and those not there (yet), by address. */
  readonly outputs: ReadonlyMap<
    string,
    ReadonlyArray<{ readonly index: number; readonly path: string; readonly found: boolean }>
  >;
}

export function parseView(stdout: string): PullView {
  let dir: string | undefined;
  const logs = new Set<string>();
  const outputs = new Map<string, Array<{ index: number; path: string; found: boolean }>>();
  for (const record of stdout.split('\0')) {
    const [type, ...fields] = record.split('\t');
    if (type === 'view') dir = fields.join('\t');
    else if (type === 'logs' && fields[0]) logs.add(fields[0]);
    else if ((type === 'out' || type === 'missing') && fields.length >= 3) {
      const [address, index, ...path] = fields;
      outputs.set(address!, [
        ...(outputs.get(address!) ?? []),
        { index: Number(index), path: path.join('\t'), found: type === 'out' },
      ]);
    }
  }
  return { ...(dir !== undefined ? { dir } : {}), logs, outputs };
}

/**
 * Nested addresses: `exp`'s log folder holds `exp/train`'s, which is pulled
 * as a unit of its own, so `exp/logs/train/` is left out of `exp`.
 */
export function nestedExcludes(units: readonly PullUnit[]): string[] {
  const out: string[] = [];
  for (const outer of units) {
    for (const inner of units) {
      if (inner.address.startsWith(`${outer.address}/`))
        out.push(`--exclude=/${outer.address}/logs/${inner.address.slice(outer.address.length + 1)}/`);
    }
  }
  return out.sort();
}

/** `%i %l %n`: what changed, its length and its path, one line per item rsync touched. */
const OUT_FORMAT = '%i %l %n';

/**
 * rsync's arguments: archive mode, links in the view followed (`-k`), the
 * source path sent as it is (`-s`), and over `ssh` with the given options
 * when `host` is set. Directory times are not kept: the view's own folders
 * are made anew each time, and would otherwise count as changed.
 */
export function rsyncArgs(
  source: { host?: string; sshArgs?: readonly string[]; dir: string },
  dest: string,
  excludes: readonly string[],
): string[] {
  const remote = source.host !== undefined;
  return [
    '-a',
    '-k',
    '--omit-dir-times',
    '-s',
    `--out-format=${OUT_FORMAT}`,
    ...excludes,
    ...(remote ? ['-e', rshCommand(['ssh', ...(source.sshArgs ?? [])])] : []),
    `${remote ? `${source.host}:` : ''}${source.dir}/`,
    `${dest}/`,
  ];
}

export interface Transferred {
  readonly files: number;
  readonly bytes: number;
}

/** Files received and their bytes, per unit, from rsync's `--out-format` lines. */
export function tally(output: string, units: readonly PullUnit[]): Map<string, Transferred> {
  const byLength = [...units].sort((a, b) => b.address.length - a.address.length);
  const out = new Map<string, Transferred>(units.map((u) => [u.address, { files: 0, bytes: 0 }]));
  for (const line of output.split('\n')) {
    const m = /^(\S{11,}) (\d+) (.+)$/.exec(line);
    if (!m || !m[1]!.startsWith('>f')) continue;
    const name = m[3]!;
    const unit = byLength.find(
      (u) => name.startsWith(`${u.address}/logs/`) || name.startsWith(`${u.address}/outputs/`),
    );
    if (!unit) continue;
    const t = out.get(unit.address)!;
    out.set(unit.address, { files: t.files + 1, bytes: t.bytes + Number(m[2]) });
  }
  return out;
}
