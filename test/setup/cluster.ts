import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { TestProject } from 'vitest/node';

/** What the integration suites learn about the test cluster. */
export interface ClusterInfo {
  readonly available: boolean;
  /** Why not, when it is not. */
  readonly reason?: string;
  readonly env?: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

const SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'cluster');

function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/**
 * Brings the real test cluster (SLURM + OpenSSH on loopback) up once for the
 * whole run, installing what is missing where it can, and down at the end.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.HPCDK_NO_CLUSTER) {
    project.provide('cluster', { available: false, reason: 'HPCDK_NO_CLUSTER is set' });
    return undefined;
  }
  const dir = process.env.HPCDK_CLUSTER_DIR ?? '/tmp/hpcdk-cluster';
  const up = await execa('bash', [join(SCRIPTS, 'up.sh')], {
    reject: false,
    env: { HPCDK_CLUSTER_DIR: dir },
    all: true,
  });
  if (up.exitCode !== 0 || !existsSync(join(dir, 'env'))) {
    const reason = `the test cluster could not start: ${String(up.all ?? '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' / ')}`;
    project.provide('cluster', { available: false, reason });
    return undefined;
  }
  project.provide('cluster', { available: true, env: readEnvFile(join(dir, 'env')) });
  // A cluster that was up before this run (a developer's, another run's) is left up.
  const startedHere = !String(up.all ?? '').includes('already healthy');
  return async () => {
    if (process.env.HPCDK_KEEP_CLUSTER || !startedHere) return;
    await execa('bash', [join(SCRIPTS, 'down.sh')], { reject: false, env: { HPCDK_CLUSTER_DIR: dir } });
  };
}
