import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { inject, type TestContext } from 'vitest';
import { countingKey, sessionsWithKey as sessionsInLog } from '../cluster/counting-key.js';

/**
 * The test cluster's env file, or a skip with the reason. Under CI=true a
 * missing cluster fails the test instead: CI must run every suite for real.
 */
export function clusterEnv(ctx: TestContext): Record<string, string> {
  const info = inject('cluster');
  if (info.available && info.env) return info.env;
  const reason = info.reason ?? 'the test cluster is not available';
  if (process.env.CI) throw new Error(`CI requires the test cluster: ${reason}`);
  ctx.skip(reason);
  throw new Error('unreachable');
}

/** Runs a command on the test cluster through the system ssh client, as a user would. */
export async function onCluster(env: Record<string, string>, command: string): Promise<string> {
  const r = await execa('ssh', ['-F', env.HPCDK_SSH_CONFIG!, env.HPCDK_SSH_ALIAS ?? 'hpcdk-test', command], {
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`ssh ${command}: ${r.stderr}`);
  return r.stdout;
}

/** How many SSH exec sessions sshd has started so far (LogLevel VERBOSE logs one line each). */
export async function sshSessions(env: Record<string, string>): Promise<number> {
  const r = await execa('grep', ['-c', 'Starting session: command', env.HPCDK_SSH_LOG!], { reject: false });
  return Number(String(r.stdout).trim() || '0');
}

/** A profile for the test cluster, as stack source, with a base path of its own so tests never share state. */
export function testClusterProfile(name = 'testcluster'): string {
  const base = `/tmp/hpcdk-remote-${randomBytes(4).toString('hex')}`;
  return `new ClusterProfile(${JSON.stringify(name)}, {
  scheduler: 'slurm',
  ssh: { host: 'hpcdk-test' },
  basePath: ${JSON.stringify(base)},
  partitions: {
    debug: { maxTime: '01:00:00', cpusPerNode: 64, memPerNode: '500G' },
    gpu: { maxTime: '2-00:00:00', cpusPerNode: 64, memPerNode: '500G', gpus: { a100: 4, l4: 2, t4: 2 } },
  },
  scratchVar: 'SLURM_TMPDIR',
  modules: 'lmod',
  shellInit: ['/etc/profile.d/lmod.sh'],
})`;
}

/**
 * A key of the test's own on the test cluster (test/cluster/counting-key.ts):
 * sshd logs each login's key fingerprint, so sessions are counted for this
 * test alone while other test files use the cluster too, and the scripts run
 * in them (the round trips) are counted on the server too.
 */
export async function ownKey(
  env: Record<string, string>,
  dir: string,
): Promise<{ config: string; fingerprint: string; scripts: () => number }> {
  return countingKey(env.HPCDK_CLUSTER_DIR!, env.HPCDK_SSH_CONFIG!, env.HPCDK_SSH_LOG!, dir);
}

/** Exec sessions started on connections that logged in with the key of `fingerprint`. */
export function sessionsWithKey(
  env: Record<string, string>,
  fingerprint: string,
): { sessions: number; logins: number } {
  return sessionsInLog(env.HPCDK_SSH_LOG!, fingerprint);
}

/** A test cluster variant started by a suite itself (see startClusterVariant). */
export interface ClusterVariant {
  readonly available: boolean;
  /** Why not, when it is not. */
  readonly reason?: string;
  readonly env?: Record<string, string>;
  /** What test/cluster/up.sh and down.sh were run with (HPCDK_CLUSTER_DIR included). */
  readonly vars: Record<string, string>;
}

const CLUSTER_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'cluster');

/** Only these variables and `vars` reach the scripts, so the default cluster's knobs (ports, dir) never leak in. */
function scriptEnv(vars: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, ...vars };
}

/**
 * Starts a variant of the test cluster with `bash test/cluster/up.sh` and the
 * given knobs (e.g. HPCDK_CLUSTER_ACCOUNTING=slurmdbd and its own
 * HPCDK_CLUSTER_DIR), next to the default one. Never throws: a cluster that
 * cannot start is reported with the reason (see clusterVariantEnv).
 */
export async function startClusterVariant(vars: Record<string, string>): Promise<ClusterVariant> {
  if (process.env.HPCDK_NO_CLUSTER) return { available: false, reason: 'HPCDK_NO_CLUSTER is set', vars };
  const dir = vars.HPCDK_CLUSTER_DIR;
  if (!dir) throw new Error('startClusterVariant needs HPCDK_CLUSTER_DIR');
  const up = await execa('bash', [join(CLUSTER_SCRIPTS, 'up.sh')], {
    reject: false,
    extendEnv: false,
    env: scriptEnv(vars),
    all: true,
    stdin: 'ignore',
  });
  const envFile = join(dir, 'env');
  if (up.exitCode !== 0 || !existsSync(envFile)) {
    const tail = String(up.all ?? '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' / ');
    return {
      available: false,
      reason: `the test cluster (${Object.entries(vars)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}) could not start: ${tail}`,
      vars,
    };
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return { available: true, env, vars };
}

/** Stops (and deletes) a variant started by startClusterVariant, unless HPCDK_KEEP_CLUSTER is set. */
export async function stopClusterVariant(cluster: ClusterVariant | undefined): Promise<void> {
  if (!cluster || process.env.HPCDK_KEEP_CLUSTER || process.env.HPCDK_NO_CLUSTER) return;
  await execa('bash', [join(CLUSTER_SCRIPTS, 'down.sh')], {
    reject: false,
    extendEnv: false,
    env: scriptEnv(cluster.vars),
    stdin: 'ignore',
  });
}

/** Like clusterEnv, for a variant: its env file, or a skip with the reason (a failure under CI=true). */
export function clusterVariantEnv(ctx: TestContext, cluster: ClusterVariant | undefined): Record<string, string> {
  if (cluster?.available && cluster.env) return cluster.env;
  const reason = cluster?.reason ?? 'the test cluster variant was not started';
  if (process.env.CI) throw new Error(`CI requires the test cluster: ${reason}`);
  ctx.skip(reason);
  throw new Error('unreachable');
}
