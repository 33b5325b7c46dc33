/**
 * `hpcdk pull` over a shell: on the target, one script resolves each job's
 * log folder and output destinations and links them into a temporary view
 * laid out as the project's `runs/<stack>/<target>/` is; one `rsync -a` then
 * copies that view (links followed), so only what is new travels, in one
 * transfer; one more round trip removes the view.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { ClusterProfile } from '../../core/cluster-profile.js';
import { HpcdkError } from '../../core/hpcdk-error.js';
import { quote, rshCommand, word, type ShellValue } from '../../shell/index.js';
import { STATE_DIR } from '../../state/layout.js';
import type { PullRequest, PullResult, PullUnit, PullView, Transferred } from '../backend.js';
import { loadExeca } from '../lazy-execa.js';
import { openSshArgs, type SshOptions } from '../ssh-transport.js';
import type { TargetConnection } from '../target-connection.js';

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

/** rsync's "some files vanished before they could be transferred": a running job's log rotated away; not an error. */
const RSYNC_VANISHED = 24;

/** How rsync reaches an SSH target: the system ssh, with the options and Host alias hpcdk's own OpenSSH mode uses. */
function remoteOf(profile: ClusterProfile, ssh: SshOptions): { host?: string; sshArgs?: string[] } {
  if (profile.isLocal || !profile.spec.ssh) return {};
  return { host: profile.spec.ssh.host, sshArgs: ['-o', 'BatchMode=yes', ...openSshArgs(profile, ssh)] };
}

/** One stack's pull: the view made on the target (one round trip), one rsync, the view removed (one more). */
export async function pullOverShell(
  conn: TargetConnection,
  ssh: SshOptions,
  request: PullRequest,
): Promise<PullResult> {
  const { stack, units, dest, withOutputs } = request;
  const name = `pull-${randomBytes(6).toString('hex')}`;
  const made = await conn.transport.run(viewScript(conn.stackDir(stack), name, units, withOutputs));
  const view = parseView(made.stdout);
  try {
    if (made.exitCode !== 0)
      throw new HpcdkError(
        `pull: finding the folders on ${conn.profile.name} failed (exit ${made.exitCode}): ${made.stderr.trim()}`,
      );
    if (view.dir === undefined || (view.logs.size === 0 && ![...view.outputs.values()].flat().some((o) => o.found)))
      return { view, moved: tally('', units) };
    mkdirSync(dest, { recursive: true });
    const r = await (await loadExeca())(
      'rsync',
      rsyncArgs({ ...remoteOf(conn.profile, ssh), dir: view.dir }, dest, nestedExcludes(units)),
      { reject: false, stdin: 'ignore' },
    );
    if (r.exitCode !== 0 && r.exitCode !== RSYNC_VANISHED)
      throw new HpcdkError(
        `pull: rsync from ${conn.profile.name} failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`,
      );
    return { view, moved: tally(String(r.stdout), units) };
  } finally {
    if (view.dir !== undefined) await conn.transport.run(`rm -rf -- ${quote(view.dir)}`);
  }
}
