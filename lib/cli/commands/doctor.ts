import { ClusterProfile } from '../../core/cluster-profile.js';
import { canonicalJson } from '../../core/digest.js';
import type { Stack } from '../../core/stack.js';
import { AllocationSchema, allocationOnTarget } from '../../core/allocation.js';
import {
  collectModules,
  connectionCheck,
  evaluate,
  parseProbes,
  renderDoctorScript,
  type Check,
  type DoctorSpec,
  type HostKeyPlace,
} from '../../ops/doctor.js';
import type { LoadedProject } from '../../loader/load-stacks.js';
import { srunOptions } from '../../ops/shell-session.js';
import { synthesizeStack, type StackSynthesis } from '../../synth/synthesize.js';
import type { TargetConnection } from '../../targets/connection.js';
import { basePathValue } from '../../targets/layout.js';
import { resolveProfileHost } from '../../targets/ssh-transport.js';
import type { ExecResult } from '../../targets/transport.js';
import { CliError, EXIT, type Output } from '../output.js';
import { openProject } from '../project.js';
import { openTarget, resolveTarget, type TargetOptions } from '../session.js';
import { ResourceKind } from '../../core/resource-spec.js';

export interface DoctorOptions extends TargetOptions {
  readonly dir?: string;
  readonly json?: boolean;
  /** Run a one-minute job that reports the scratch variable from inside a job. */
  readonly probeJob?: boolean;
}

interface TargetReport {
  readonly target: string;
  readonly scheduler: string;
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

/** The targets to check: --target, else every stack's default target (usually one). */
function targetsToCheck(project: LoadedProject, name: string | undefined): ClusterProfile[] {
  const stacks = project.stacks.map((s) => s.stack);
  if (name !== undefined) {
    if (stacks[0]) return [resolveTarget(project, stacks[0], name)];
    const shared = name === 'local' ? ClusterProfile.local() : project.profiles.find((p) => p.name === name);
    if (!shared)
      throw new CliError(
        `no target named ${name} (the project has no stacks; targets: local${project.profiles.map((p) => `, ${p.name}`).join('')})`,
      );
    return [shared];
  }
  const byName = new Map(stacks.map((s) => [s.defaultTarget.name, s.defaultTarget] as const));
  return byName.size > 0 ? [...byName.values()] : [ClusterProfile.local()];
}

/** Stacks that declare the target; when none does (it was named with --target), every stack, as plan would render them. */
function stacksFor(project: LoadedProject, profile: ClusterProfile): Stack[] {
  const stacks = project.stacks.map((s) => s.stack);
  const declaring = stacks.filter((s) => s.targets.some((t) => t.name === profile.name));
  return declaring.length > 0 ? declaring : stacks;
}

/** Where the host key is checked, for the fix of a host-key failure; undefined for local targets. */
function hostKeyPlace(profile: ClusterProfile): HostKeyPlace | undefined {
  const ssh = profile.spec.ssh;
  if (!ssh || profile.isLocal) return undefined;
  const host = resolveProfileHost(ssh);
  return { hostName: host.hostName, port: host.port, knownHostsFile: host.knownHostsFiles[0] ?? '~/.ssh/known_hosts' };
}

/** Said when the connection failed, so nobody reads the short list as all that was checked. */
const NOT_RUN: Check = {
  id: 'target',
  title: 'checks on the target',
  status: 'skip',
  detail: 'not run: no connection',
};

async function checkTarget(
  project: LoadedProject,
  profile: ClusterProfile,
  options: DoctorOptions,
): Promise<TargetReport> {
  const checks: Check[] = [];
  const rendered: Array<{ stack: Stack; synthesis?: StackSynthesis }> = [];
  for (const stack of stacksFor(project, profile)) {
    try {
      rendered.push({ stack, synthesis: synthesizeStack(stack, profile, project.dir) });
    } catch (e) {
      rendered.push({ stack });
      checks.push({
        id: `stack:${stack.stackName}`,
        title: `stack ${stack.stackName}`,
        status: 'fail',
        detail: `does not render for target ${profile.name}: ${(e as Error).message}`,
        fix: 'fix the stack (hpcdk synth lists every problem)',
      });
    }
  }
  const spec: DoctorSpec = {
    profile,
    basePath: basePathValue(profile, project.dir),
    modules: collectModules(rendered),
    imagesUsed: rendered.some((r) =>
      r.synthesis?.manifest.resources.some((x) => x.kind === ResourceKind.containerImage),
    ),
    ...(options.probeJob && !profile.isLocal
      ? {
          probeJob: srunOptions('hpcdk-doctor', {
            ...allocationOnTarget(profile, AllocationSchema.parse({})),
            time: '1',
          }),
        }
      : {}),
  };
  const report = (more: Check[]): TargetReport => {
    const all = [...more, ...checks];
    return {
      target: profile.name,
      scheduler: profile.spec.scheduler,
      ok: all.every((c) => c.status !== 'fail'),
      checks: all,
    };
  };
  let conn: TargetConnection;
  try {
    conn = await openTarget(project, profile, options);
  } catch (e) {
    return report([connectionCheck('', (e as Error).message, hostKeyPlace(profile)), NOT_RUN]);
  }
  try {
    return report(await probeTarget(conn, spec, options));
  } finally {
    await conn.close();
  }
}

/** Every check of an open target, from one run of the probe script. */
async function probeTarget(conn: TargetConnection, spec: DoctorSpec, options: DoctorOptions): Promise<Check[]> {
  const profile = spec.profile;
  let r: ExecResult;
  try {
    r = await conn.transport.run(renderDoctorScript(spec));
  } catch (e) {
    // An automation node refuses any script: say so, in the report.
    const automation = options.automation === true || profile.spec.automation;
    const fix = automation
      ? 'doctor asks the target in one shell script, which an automation node does not run: check the interactive login node instead (a profile without automation, through a ControlMaster connection and --openssh)'
      : 'run hpcdk doctor again; HPCDK_DEBUG=1 shows more';
    return [
      connectionCheck(conn.transport.description, undefined),
      { id: 'target', title: 'checks on the target', status: 'fail', detail: (e as Error).message, fix },
    ];
  }
  const results = parseProbes(r.stdout);
  // The system ssh (--openssh) fails here rather than at connect: no answer at all is the connection's failure.
  if (!results) return [connectionCheck('', r.stderr.trim() || `exit ${r.exitCode}`, hostKeyPlace(profile)), NOT_RUN];
  if (process.env.HPCDK_DEBUG) process.stderr.write(r.stdout);
  return [connectionCheck(conn.transport.description, undefined), ...evaluate(spec, results)];
}

const MARK = { ok: '✓', fail: '✗', warn: '!', skip: '-' } as const;

function renderHuman(reports: readonly TargetReport[], io: Output): void {
  const c = io.colors;
  const paint = { ok: c.green, fail: c.red, warn: c.yellow, skip: c.dim } as const;
  for (const [i, report] of reports.entries()) {
    if (i > 0) io.out('');
    io.out(c.bold(`Target ${report.target} (${report.scheduler})`));
    for (const check of report.checks)
      io.out(`${paint[check.status](MARK[check.status])} ${check.title}: ${check.detail}`);
    const toFix = report.checks.filter((x) => x.fix !== undefined && (x.status === 'fail' || x.status === 'warn'));
    if (toFix.length > 0) {
      io.out('');
      io.out(c.bold('To fix:'));
      for (const check of toFix) io.out(`${paint[check.status](MARK[check.status])} ${check.title}: ${check.fix}`);
    }
    const failed = report.checks.filter((x) => x.status === 'fail').length;
    const warned = report.checks.filter((x) => x.status === 'warn').length;
    const warnings = warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : '';
    io.out('');
    io.out(
      failed > 0 ? c.red(`${failed} problem${failed === 1 ? '' : 's'}${warnings}.`) : c.green(`Ready${warnings}.`),
    );
  }
}

/** `hpcdk doctor`: what works on a target and what does not, before anything is applied. Exit 1 when something needed is missing. */
export async function doctorCommand(options: DoctorOptions, io: Output): Promise<number> {
  const project = await openProject(options.dir);
  const reports: TargetReport[] = [];
  for (const profile of targetsToCheck(project, options.target))
    reports.push(await checkTarget(project, profile, options));
  if (options.json) io.out(canonicalJson({ format_version: '1', ok: reports.every((r) => r.ok), targets: reports }, 2));
  else renderHuman(reports, io);
  return reports.every((r) => r.ok) ? EXIT.ok : EXIT.error;
}
