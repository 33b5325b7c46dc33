/**
 * `hpcdk doctor`: one probe script that asks a target everything at once
 * (one round trip, like plan's read), and the parser that turns its answers
 * into checks, each failing one with its fix. Pure: the command runs it.
 */
import type { ClusterProfile } from '../core/cluster-profile.js';
import { HpcConstruct } from '../core/hpc-construct.js';
import type { Stack } from '../core/stack.js';
import { ModuleNameSchema, shellSetupFor } from '../constructs/python-common.js';
import { shellSetupLines } from '../render/python-env.js';
import { LITERALS_DIRECTIVE, quote, word, words, type ShellValue } from '../shell/index.js';
import type { StackSynthesis } from '../synth/synthesize.js';

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip';

/** One line of the report. `fail` makes doctor exit 1; `warn` (optional things) and `skip` (not checked) do not. */
export interface Check {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly fix?: string;
}

/** A module the stacks load on the target, and the constructs that name it. */
export interface ModuleUse {
  readonly name: string;
  readonly namedBy: readonly string[];
}

export interface DoctorSpec {
  readonly profile: ClusterProfile;
  /** The folder stacks live under on the target (see targets/layout.ts). */
  readonly basePath: ShellValue;
  readonly modules: readonly ModuleUse[];
  /** A stack builds a container image for this target. */
  readonly imagesUsed: boolean;
  /** `--probe-job`: the srun options of a one-minute job that reports the scratch variable. */
  readonly probeJob?: readonly string[];
}

/** What the target answered to one probe: its exit code and output (stdout and stderr). */
export interface ProbeResult {
  readonly code: number;
  readonly output: string;
}

const SLURM_COMMANDS = ['sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo'] as const;
/** What every script hpcdk sends needs, besides bash. */
const TOOLS = ['awk', 'base64', 'find', 'head', 'mktemp', 'paste', 'sed', 'sha256sum', 'sort', 'stat', 'xargs'];
/** What the local scheduler's runner needs. */
const LOCAL_SCHEDULER_TOOLS = ['setsid', 'nproc'];
const RUNTIMES = ['apptainer', 'singularity', 'podman', 'docker'];
/** Bash 4.3: associative arrays and `wait -n`, which the scripts use. */
const MIN_BASH: readonly [number, number] = [4, 3];
export const PROBE_JOB_SECONDS = 120;

interface Probe {
  readonly name: string;
  /** Shell run in a subshell; its output and exit code are the answer. */
  readonly body: string;
}

/** Sources the profile's shellInit files, so `module` and runtimes loaded there work as in jobs. */
function initLines(profile: ClusterProfile): string {
  return [...shellSetupLines(shellSetupFor(profile, [])), 'set +u'].join('\n');
}

function moduleProbe(profile: ClusterProfile, name: string): string {
  // `module is-avail` (Lmod, Environment Modules 4+); else a line of `module -t avail` that is the module or one of its versions.
  return `${initLines(profile)}
module is-avail ${quote(name)} 2>/dev/null || module -t avail ${quote(name)} 2>&1 | awk -v m=${quote(name)} '$0 == m || index($0, m "/") == 1 || index($0, m "(") == 1 { found = 1 } END { exit !found }'`;
}

function probes(spec: DoctorSpec): Probe[] {
  const p = spec.profile;
  const slurm = p.spec.scheduler === 'slurm';
  const tools = [...TOOLS, ...(slurm ? ['timeout'] : LOCAL_SCHEDULER_TOOLS)];
  const list: Probe[] = [
    {
      name: 'basics',
      body: `printf 'bash %s.%s\\nuser %s\\nhost %s\\n' "\${BASH_VERSINFO[0]}" "\${BASH_VERSINFO[1]}" "$(id -un)" "$(hostname)"
for c in ${words(tools)}; do command -v "$c" >/dev/null 2>&1 || printf 'missing %s\\n' "$c"; done`,
    },
  ];
  if (slurm) {
    list.push(
      {
        name: 'commands',
        body: `for c in ${words([...SLURM_COMMANDS, 'srun'])}; do printf '%s %s\\n' "$c" "$(command -v "$c" || echo -)"; done`,
      },
      { name: 'squeue-version', body: 'squeue -V' },
      { name: 'sinfo-version', body: 'sinfo -V' },
      { name: 'partitions', body: "timeout 15 sinfo -h -o '%R'" },
      { name: 'sacct', body: 'timeout 15 sacct -n -X -S now -o JobID' },
      { name: 'sacct-json', body: 'hpcdk_json sacct --json -S now' },
      { name: 'squeue-json', body: 'hpcdk_json squeue --json -u "$(id -un)"' },
    );
  }
  if (p.spec.shellInit.length > 0) {
    const files = shellSetupFor(p, []).shellInit;
    list.push({
      name: 'shell-init',
      body: `set +u
# shellcheck disable=SC1090,SC2043 # the profile's files, one or more
for f in ${words(files)}; do
  if [ ! -r "$f" ]; then printf 'missing %s\\n' "$f"; elif ! source "$f" >/dev/null 2>&1; then printf 'failed %s\\n' "$f"; fi
done
printf 'sourced\\n'`,
    });
  }
  if (p.spec.modules !== 'none') {
    list.push({
      name: 'module-system',
      body: `${initLines(p)}\ntype -t module || exit 1\nmodule --version 2>&1 | head -n 3`,
    });
    spec.modules.forEach((m, i) => {
      list.push({ name: `module.${i}`, body: moduleProbe(p, m.name) });
    });
  }
  if (p.spec.containerRuntime !== 'none')
    list.push({ name: 'runtime', body: `${initLines(p)}\n${quote(p.spec.containerRuntime)} --version` });
  if (p.spec.containerRuntime !== 'none' || spec.imagesUsed) {
    list.push({
      name: 'runtimes',
      body: `${initLines(p)}\nfor c in ${words(RUNTIMES)}; do command -v "$c" >/dev/null 2>&1 && printf '%s\\n' "$c"; done; true`,
    });
  }
  // Creates what is missing of the base folder and a file in it, then removes both: nothing is left behind.
  list.push({
    name: 'write',
    body: `b=${word(spec.basePath)}
printf 'base %s\\n' "$b"
missing=(); d=$b
while [ ! -e "$d" ] && [ "$d" != / ] && [ "$d" != . ]; do missing+=("$d"); d=$(dirname -- "$d"); done
mkdir -p -- "$b" && f=$(mktemp -- "$b/.hpcdk-doctor.XXXXXX") && rm -f -- "$f"; code=$?
for d in "\${missing[@]}"; do rmdir -- "$d" 2>/dev/null; done
exit "$code"`,
  });
  if (slurm && spec.probeJob) {
    const v = p.spec.scratchVar;
    const inJob = `printf 'job %s\\nvalue %s\\n' "\${SLURM_JOB_ID:-}" "\${${v}:-}"; if [ -n "\${${v}:-}" ] && [ -d "\${${v}}" ] && [ -w "\${${v}}" ]; then echo writable; fi`;
    list.push({
      name: 'probe-job',
      body: `timeout ${PROBE_JOB_SECONDS} srun ${spec.probeJob.join(' ')} bash -c ${quote(inJob)}`,
    });
  }
  return list;
}

/**
 * The probe script: each probe's exit code and output, as
 * `@@probe <name> <code> <base64>` lines, then `@@end`.
 */
export function renderDoctorScript(spec: DoctorSpec): string {
  const lines = [
    LITERALS_DIRECTIVE,
    'hpcdk_emit() { printf \'@@probe %s %s \' "$1" "$2"; printf \'%s\' "$3" | head -c 4000 | base64 -w0; echo; }',
    // JSON output where the command has it: the first bytes, or the refusal.
    'hpcdk_json() { local out; out=$(timeout 15 "$@" 2>&1) || { printf \'%s\' "$out" | head -c 300; return 1; }; case "$out" in "{"*) echo json ;; *) printf \'%s\' "$out" | head -c 300; return 1 ;; esac; }',
  ];
  for (const probe of probes(spec)) {
    lines.push(`hpcdk_out=$( (\n${probe.body}\n) 2>&1 )`, `hpcdk_emit ${probe.name} "$?" "$hpcdk_out"`);
  }
  lines.push("echo '@@end'");
  return `${lines.join('\n')}\n`;
}

/** Reads the probe lines back; undefined when the script did not finish (no `@@end`). */
export function parseProbes(stdout: string): Map<string, ProbeResult> | undefined {
  const results = new Map<string, ProbeResult>();
  let ended = false;
  for (const line of stdout.split('\n')) {
    if (line === '@@end') ended = true;
    const m = /^@@probe (\S+) (\d+) ?(\S*)$/.exec(line);
    if (m)
      results.set(m[1]!, {
        code: Number(m[2]),
        output: Buffer.from(m[3] ?? '', 'base64')
          .toString('utf8')
          .trim(),
      });
  }
  return ended ? results : undefined;
}

/** `key value` lines of a probe's output, by key (later lines win). */
function fields(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    if (key !== '') out.set(key, [...(out.get(key) ?? []), sp < 0 ? '' : line.slice(sp + 1)]);
  }
  return out;
}

const lastLines = (text: string, n = 3): string =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-n)
    .join(' / ');

/** A probe the script never answered (it was cut short): a failure, not a pass. */
function unanswered(id: string, title: string): Check {
  return {
    id,
    title,
    status: 'fail',
    detail: 'no answer from the target',
    fix: 'run hpcdk doctor again; HPCDK_DEBUG=1 shows the raw answer',
  };
}

function basicsCheck(spec: DoctorSpec, r: ProbeResult): Check {
  const f = fields(r.output);
  const version = f.get('bash')?.[0] ?? '?';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const missing = f.get('missing') ?? [];
  const local = spec.profile.isLocal;
  const where = `as ${f.get('user')?.[0] ?? '?'} on ${f.get('host')?.[0] ?? '?'}`;
  const oldBash = major < MIN_BASH[0] || (major === MIN_BASH[0] && minor < MIN_BASH[1]);
  if (oldBash || missing.length > 0) {
    const problems = [
      ...(oldBash ? [`bash ${version} (needs ${MIN_BASH.join('.')} or later)`] : []),
      ...(missing.length > 0 ? [`missing ${missing.join(', ')}`] : []),
    ];
    return {
      id: 'basics',
      title: local
        ? 'shell tools (bash, coreutils; the local scheduler: setsid, nproc)'
        : 'shell tools (bash, coreutils)',
      status: 'fail',
      detail: `${problems.join('; ')} ${where}`,
      fix: `install them where hpcdk runs its scripts (${local ? 'this machine' : `target ${spec.profile.name}`}): they come with bash, GNU coreutils, findutils, gawk and util-linux`,
    };
  }
  return {
    id: 'basics',
    title: local ? 'shell tools and the local scheduler' : 'shell tools',
    status: 'ok',
    detail: `bash ${version}, coreutils ${where}`,
  };
}

function slurmChecks(spec: DoctorSpec, results: ReadonlyMap<string, ProbeResult>): Check[] {
  const checks: Check[] = [];
  const commands = results.get('commands');
  if (!commands) return [unanswered('slurm-commands', 'SLURM commands')];
  const paths = new Map([...fields(commands.output)].map(([k, v]) => [k, v[0] ?? '-']));
  const missing = SLURM_COMMANDS.filter((c) => (paths.get(c) ?? '-') === '-');
  const version = (name: string) => {
    const r = results.get(name);
    return r && r.code === 0 ? r.output.split('\n')[0]! : undefined;
  };
  const squeue = version('squeue-version');
  const sinfo = version('sinfo-version');
  const versions =
    squeue === sinfo ? (squeue ?? 'version unknown') : `squeue: ${squeue ?? '?'}, sinfo: ${sinfo ?? '?'}`;
  checks.push(
    missing.length > 0
      ? {
          id: 'slurm-commands',
          title: 'SLURM commands',
          status: 'fail',
          detail: `missing ${missing.join(', ')} on PATH`,
          fix: 'hpcdk runs sbatch, squeue, scancel, scontrol and sinfo on the login node: make sure the profile names a login node of the cluster, and that a non-interactive ssh session finds them on PATH (on some sites a module or the shellInit files put them there)',
        }
      : {
          id: 'slurm-commands',
          title: 'SLURM commands',
          status: 'ok',
          detail: `${SLURM_COMMANDS.join(', ')} (${versions})`,
        },
  );
  if ((paths.get('srun') ?? '-') === '-') {
    checks.push({
      id: 'srun',
      title: 'srun',
      status: 'warn',
      detail: 'not found',
      fix: 'hpcdk shell, per-node environment builds and dataset staging on multi-node jobs run srun',
    });
  }
  const partitions = results.get('partitions');
  if (partitions && missing.length === 0) {
    const declared = Object.keys(spec.profile.spec.partitions);
    const offered = new Set(
      partitions.output
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== ''),
    );
    const unknown = declared.filter((d) => !offered.has(d));
    if (partitions.code !== 0) {
      checks.push({
        id: 'partitions',
        title: 'SLURM controller',
        status: 'fail',
        detail: `sinfo failed: ${lastLines(partitions.output)}`,
        fix: 'sinfo must reach slurmctld from the login node: is the controller up, and SLURM_CONF right in a non-interactive session?',
      });
    } else if (unknown.length > 0) {
      checks.push({
        id: 'partitions',
        title: 'partitions',
        status: 'fail',
        detail: `the profile declares ${unknown.join(', ')}, which sinfo does not list (it lists ${[...offered].join(', ') || 'none'})`,
        fix: `use the partition names sinfo lists in the profile of target ${spec.profile.name} (partitions, defaultPartition)`,
      });
    } else {
      checks.push({
        id: 'partitions',
        title: 'partitions',
        status: 'ok',
        detail:
          declared.length > 0
            ? `${declared.join(', ')} (sinfo lists ${[...offered].join(', ')})`
            : `none declared (sinfo lists ${[...offered].join(', ')})`,
      });
    }
  }
  return checks;
}

function moduleChecks(spec: DoctorSpec, results: ReadonlyMap<string, ProbeResult>): Check[] {
  const p = spec.profile;
  const names = spec.modules.map((m) => m.name);
  if (p.spec.modules === 'none') {
    if (names.length === 0)
      return [
        {
          id: 'module-system',
          title: 'modules',
          status: 'skip',
          detail: 'the profile names no module system, and no stack loads modules',
        },
      ];
    // A laptop has no modules by design: its jobs use what the machine has.
    if (p.isLocal)
      return [
        {
          id: 'module-system',
          title: 'modules',
          status: 'skip',
          detail: `stacks name modules (${names.join(', ')}); the local target loads none`,
        },
      ];
    return [
      {
        id: 'module-system',
        title: 'modules',
        status: 'warn',
        detail: `stacks name modules (${names.join(', ')}) but target ${p.name} has modules: 'none', so they are not loaded`,
        fix: `set modules: 'lmod' (or 'environment-modules') and shellInit in the profile of target ${p.name}, or remove the modules from the stacks`,
      },
    ];
  }
  const system = results.get('module-system');
  if (!system) return [unanswered('module-system', `module system (${p.spec.modules})`)];
  const works = system.code === 0 && /^(function|file|alias)$/m.test(system.output);
  const checks: Check[] = [
    works
      ? {
          id: 'module-system',
          title: `module system (${p.spec.modules})`,
          status: 'ok',
          detail:
            system.output
              .split('\n')
              .slice(1)
              .find((l) => l.trim() !== '')
              ?.trim() ?? '`module` works',
        }
      : {
          id: 'module-system',
          title: `module system (${p.spec.modules})`,
          status: 'fail',
          detail: `\`module\` is not defined after sourcing ${p.spec.shellInit.length > 0 ? p.spec.shellInit.join(', ') : 'nothing (shellInit is empty)'}`,
          fix: `add the file that defines \`module\` to shellInit in the profile of target ${p.name} (Lmod: /etc/profile.d/lmod.sh or $LMOD_PKG/init/bash; Environment Modules: /etc/profile.d/modules.sh): non-interactive ssh sessions and batch jobs do not read /etc/profile`,
        },
  ];
  spec.modules.forEach((m, i) => {
    const id = `module:${m.name}`;
    const title = `module ${m.name}`;
    const by = `named by ${m.namedBy.join(', ')}`;
    const r = results.get(`module.${i}`);
    if (!works) checks.push({ id, title, status: 'skip', detail: `not checked: \`module\` does not work (${by})` });
    else if (!r) checks.push(unanswered(id, title));
    else if (r.code === 0) checks.push({ id, title, status: 'ok', detail: `available (${by})` });
    else {
      checks.push({
        id,
        title,
        status: 'fail',
        detail: `not available on target ${p.name} (${by})`,
        fix: `\`module spider ${m.name.split('/')[0]}\` on the target lists the versions that exist (one in a hierarchy needs its parent modules loaded first, e.g. a compiler or StdEnv); fix the name in ${m.namedBy.join(', ')}`,
      });
    }
  });
  return checks;
}

function shellInitCheck(spec: DoctorSpec, r: ProbeResult | undefined): Check[] {
  if (spec.profile.spec.shellInit.length === 0) return [];
  if (!r) return [unanswered('shell-init', 'shellInit')];
  const f = fields(r.output);
  const bad = [
    ...(f.get('missing') ?? []).map((x) => `${x} is missing`),
    ...(f.get('failed') ?? []).map((x) => `${x} fails when sourced`),
  ];
  if (bad.length === 0)
    return [
      {
        id: 'shell-init',
        title: 'shellInit',
        status: 'ok',
        detail: `sourced ${spec.profile.spec.shellInit.join(', ')}`,
      },
    ];
  return [
    {
      id: 'shell-init',
      title: 'shellInit',
      status: 'fail',
      detail: bad.join('; '),
      fix: `every job and build sources these files first: fix shellInit in the profile of target ${spec.profile.name}`,
    },
  ];
}

function scratchCheck(spec: DoctorSpec, results: ReadonlyMap<string, ProbeResult>): Check {
  const v = spec.profile.spec.scratchVar;
  const title = `scratch $${v}`;
  if (spec.profile.isLocal) {
    return ['TMPDIR', 'SLURM_TMPDIR'].includes(v)
      ? {
          id: 'scratch',
          title,
          status: 'ok',
          detail: 'the local runner gives every job a private folder as $TMPDIR and $SLURM_TMPDIR',
        }
      : {
          id: 'scratch',
          title,
          status: 'fail',
          detail: `the local runner sets $TMPDIR and $SLURM_TMPDIR, not $${v}`,
          fix: "set scratchVar: 'TMPDIR' on the local target",
        };
  }
  if (!spec.probeJob) {
    return {
      id: 'scratch',
      title,
      status: 'skip',
      detail: `set inside jobs, not on the login node, so not checked from here (--probe-job runs a one-minute job that checks it)`,
    };
  }
  const r = results.get('probe-job');
  if (!r) return unanswered('scratch', title);
  const f = fields(r.output);
  const job = f.get('job')?.[0] ?? '';
  const value = f.get('value')?.[0] ?? '';
  if (r.code === 124) {
    return {
      id: 'scratch',
      title,
      status: 'fail',
      detail: `the probe job did not run within ${PROBE_JOB_SECONDS} s`,
      fix: "the queue may be busy: run again later, or look at squeue; the job asks for the target's jobDefaults with a one-minute limit",
    };
  }
  if (r.code !== 0 || job === '') {
    return {
      id: 'scratch',
      title,
      status: 'fail',
      detail: `the probe job failed: ${lastLines(r.output)}`,
      fix: `srun refused or failed the job: check jobDefaults (partition, account, qos) in the profile of target ${spec.profile.name}`,
    };
  }
  if (value === '') {
    return {
      id: 'scratch',
      title,
      status: 'fail',
      detail: `$${v} is not set inside job ${job}`,
      fix: `set scratchVar in the profile of target ${spec.profile.name} to the variable the site's jobs get for node-local disk (SLURM_TMPDIR on DRAC, often TMPDIR elsewhere)`,
    };
  }
  if (!f.has('writable'))
    return {
      id: 'scratch',
      title,
      status: 'fail',
      detail: `$${v}=${value} in job ${job} is not a writable folder`,
      fix: 'ask the site: jobs write their caches and staged data there',
    };
  return { id: 'scratch', title, status: 'ok', detail: `$${v}=${value} in job ${job}, writable` };
}

function runtimeCheck(spec: DoctorSpec, results: ReadonlyMap<string, ProbeResult>): Check[] {
  const runtime = spec.profile.spec.containerRuntime;
  const found = (results.get('runtimes')?.output ?? '').split('\n').filter((l) => RUNTIMES.includes(l.trim()));
  const others =
    found.length > 0
      ? `; the target has ${found.join(', ')}`
      : '; the target has none of apptainer, singularity, podman, docker';
  if (runtime === 'none') {
    if (!spec.imagesUsed)
      return [
        {
          id: 'container-runtime',
          title: 'container runtime',
          status: 'skip',
          detail: 'none named by the profile, and no stack builds an image',
        },
      ];
    return found.length > 0
      ? [
          {
            id: 'container-runtime',
            title: 'container runtime',
            status: 'ok',
            detail: `none named by the profile; images are built with what the target has: ${found.join(', ')}`,
          },
        ]
      : [
          {
            id: 'container-runtime',
            title: 'container runtime',
            status: 'fail',
            detail: `stacks build images, but the target has none of ${RUNTIMES.join(', ')}`,
            fix: 'install one on the target (or load its module in shellInit)',
          },
        ];
  }
  const r = results.get('runtime');
  if (!r) return [unanswered('container-runtime', `container runtime ${runtime}`)];
  if (r.code === 0)
    return [
      {
        id: 'container-runtime',
        title: `container runtime ${runtime}`,
        status: 'ok',
        detail: r.output.split('\n')[0]!,
      },
    ];
  return [
    {
      id: 'container-runtime',
      title: `container runtime ${runtime}`,
      status: 'fail',
      detail: `${runtime} --version failed (${r.code === 127 ? 'not installed' : lastLines(r.output)})${others}`,
      fix: `install ${runtime} on the target (or load its module in shellInit), or set containerRuntime in the profile of target ${spec.profile.name} to what it has${found.length > 0 ? ` (${found.join(', ')})` : ''}`,
    },
  ];
}

function writeCheck(spec: DoctorSpec, r: ProbeResult | undefined): Check {
  if (!r) return unanswered('write-access', 'write access');
  const base = fields(r.output).get('base')?.[0] ?? String(spec.basePath);
  if (r.code === 0)
    return { id: 'write-access', title: 'write access', status: 'ok', detail: `created and removed a file in ${base}` };
  return {
    id: 'write-access',
    title: 'write access',
    status: 'fail',
    detail: `cannot write in ${base}: ${lastLines(
      r.output
        .split('\n')
        .filter((l) => !l.startsWith('base '))
        .join('\n'),
    )}`,
    fix: `set basePath in the profile of target ${spec.profile.name} to a folder you can write (default ~/.hpcdk; on DRAC, ~/projects/<group>/<you>/hpcdk or $SCRATCH/hpcdk)`,
  };
}

function accountingChecks(results: ReadonlyMap<string, ProbeResult>): Check[] {
  const sacct = results.get('sacct');
  if (!sacct) return [];
  const checks: Check[] = [];
  const works = sacct.code === 0;
  checks.push(
    works
      ? {
          id: 'accounting',
          title: 'accounting (sacct)',
          status: 'ok',
          detail: 'sacct answers: plan learns how jobs that left the queue ended',
        }
      : {
          id: 'accounting',
          title: 'accounting (sacct)',
          status: 'warn',
          detail: `sacct does not work (${lastLines(sacct.output, 1) || `exit ${sacct.code}`})`,
          fix: 'optional: without accounting, plan knows how finished jobs ended from the exit records hpcdk jobs leave; only jobs killed before their script ran are unknown',
        },
  );
  const json = (id: string, command: string, r: ProbeResult | undefined, skip?: string): Check => {
    if (skip) return { id, title: command, status: 'skip', detail: skip };
    if (r?.code === 0) return { id, title: command, status: 'ok', detail: 'available' };
    return {
      id,
      title: command,
      status: 'warn',
      detail: `not available (${lastLines(r?.output ?? '', 1) || 'no output'})`,
      fix: 'optional: hpcdk reads the text output; JSON needs SLURM 21.08+ with its openapi/data_parser plugins',
    };
  };
  checks.push(
    json('sacct-json', 'sacct --json', results.get('sacct-json'), works ? undefined : 'not checked: no accounting'),
  );
  checks.push(json('squeue-json', 'squeue --json', results.get('squeue-json')));
  return checks;
}

/** Every check but the connection's, from the probe answers. */
export function evaluate(spec: DoctorSpec, results: ReadonlyMap<string, ProbeResult>): Check[] {
  const basics = results.get('basics');
  const slurm = spec.profile.spec.scheduler === 'slurm';
  return [
    basics ? basicsCheck(spec, basics) : unanswered('basics', 'shell tools'),
    ...(slurm ? slurmChecks(spec, results) : []),
    ...shellInitCheck(spec, results.get('shell-init')),
    ...moduleChecks(spec, results),
    scratchCheck(spec, results),
    ...runtimeCheck(spec, results),
    writeCheck(spec, results.get('write')),
    ...(slurm ? accountingChecks(results) : []),
  ];
}

/** Where an SSH target's host key is checked, for the fix of a host-key failure. */
export interface HostKeyPlace {
  readonly hostName: string;
  readonly port: number;
  readonly knownHostsFile: string;
}

/** The connection check: ok, or the failure of the connect step with its fix (unknown key, changed key, login refused). */
export function connectionCheck(description: string, error: string | undefined, host?: HostKeyPlace): Check {
  const title = 'connection';
  if (error === undefined) return { id: 'connection', title, status: 'ok', detail: description };
  const name = host ? (host.port === 22 ? host.hostName : `[${host.hostName}]:${host.port}`) : 'the host';
  const file = host?.knownHostsFile ?? '~/.ssh/known_hosts';
  const detail = lastLines(error, 2);
  if (/CHANGED|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(error)) {
    return {
      id: 'connection',
      title,
      status: 'fail',
      detail,
      fix: `refused on purpose: the host's key is not the one ${file} holds for ${name} (a reinstalled login node, or someone in between). Confirm the new fingerprint with the cluster's documentation or its administrators, then remove the old key with ssh-keygen -R '${name}' -f ${file} and connect again. --accept-new-host-key never accepts a changed key.`,
    };
  }
  if (/unknown host key|Host key verification failed|No .* host key is known/i.test(error)) {
    const keyscan = host
      ? `ssh-keyscan${host.port === 22 ? '' : ` -p ${host.port}`} ${host.hostName} >> ${file}`
      : 'ssh-keyscan HOST >> ~/.ssh/known_hosts';
    return {
      id: 'connection',
      title,
      status: 'fail',
      detail,
      fix: `the host key of ${name} is not in ${file} yet. Check its fingerprint against the cluster's documentation, then run again with --accept-new-host-key (hpcdk records it), or add it yourself: ${keyscan}`,
    };
  }
  if (/authentication|Permission denied/i.test(error)) {
    return {
      id: 'connection',
      title,
      status: 'fail',
      detail,
      fix: 'the login was refused: check IdentityFile in the ssh config (or the ssh-agent); clusters that ask for a second factor need a ControlMaster connection and --openssh',
    };
  }
  return {
    id: 'connection',
    title,
    status: 'fail',
    detail,
    fix: "check that the profile's ssh host is right and that `ssh HOST true` works from here with the same ssh config",
  };
}

/** Splits a `module load a b/1` line into module names (options and shell values are left out). */
function moduleLoadNames(line: string): string[] {
  const m = /^\s*module\s+(?:load|add)\s+(.*)$/.exec(line);
  if (!m) return [];
  const names: string[] = [];
  for (const token of m[1]!.split(/\s+/)) {
    if (/[;&|]/.test(token)) break;
    if (ModuleNameSchema.safeParse(token).success) names.push(token);
  }
  return names;
}

/**
 * The modules the stacks load on a target, each with the constructs that
 * name it: the `modules` props of environments and wheelhouses, and the
 * `module load` lines the synthesized scripts hold (job steps written by hand).
 */
export function collectModules(
  stacks: ReadonlyArray<{ readonly stack: Stack; readonly synthesis?: StackSynthesis }>,
): ModuleUse[] {
  const uses = new Map<string, Set<string>>();
  const add = (name: string, by: string) => uses.set(name, (uses.get(name) ?? new Set()).add(by));
  for (const { stack, synthesis } of stacks) {
    for (const c of stack.node.findAll().filter(HpcConstruct.isHpcConstruct)) {
      const modules = (c.props as { modules?: unknown } | undefined)?.modules;
      if (Array.isArray(modules)) for (const name of modules) if (typeof name === 'string') add(name, c.node.path);
    }
    for (const artifact of synthesis?.artifacts ?? []) {
      for (const line of artifact.content.split('\n'))
        for (const name of moduleLoadNames(line)) add(name, artifact.construct);
    }
  }
  return [...uses]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, by]) => ({ name, namedBy: [...by].sort() }));
}
