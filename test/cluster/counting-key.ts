import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A key of its own on the test cluster, whose logins, sessions and scripts are counted on the server. */
export interface CountingKey {
  /** An ssh config whose test-cluster alias logs in with this key (for HPCDK_SSH_CONFIG). */
  readonly config: string;
  readonly fingerprint: string;
  /** Logins and exec sessions sshd logged for this key (LogLevel VERBOSE). */
  sessions(): { logins: number; sessions: number };
  /** Scripts run in hpcdk's session shells for this key: the round trips (count-scripts.sh). */
  scripts(): number;
}

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Authorizes a new key on the test cluster (`clusterDir`), with count-scripts.sh
 * as its sessions' BASH_ENV, and writes an ssh config (from `sshConfig`) that
 * uses it. Everything it makes goes in `dir`.
 */
export function countingKey(clusterDir: string, sshConfig: string, sshLog: string, dir: string): CountingKey {
  const key = join(dir, 'id_counting');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const counter = join(dir, 'counting');
  mkdirSync(counter, { recursive: true });
  copyFileSync(join(HERE, 'count-scripts.sh'), join(counter, 'count-scripts.sh'));
  appendFileSync(
    join(clusterDir, 'keys', 'authorized_keys'),
    `environment="BASH_ENV=${join(counter, 'count-scripts.sh')}" ${readFileSync(`${key}.pub`, 'utf8')}`,
  );
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  const config = join(dir, 'ssh_config_own_key');
  writeFileSync(config, readFileSync(sshConfig, 'utf8').replace(/IdentityFile .*/g, `IdentityFile ${key}`));
  const count = join(counter, 'scripts.count');
  return {
    config,
    fingerprint,
    sessions: () => sessionsWithKey(sshLog, fingerprint),
    scripts: () => (existsSync(count) ? readFileSync(count, 'utf8').split('\n').filter(Boolean).length : 0),
  };
}

/** Exec sessions started on connections that logged in with the key of `fingerprint`. */
export function sessionsWithKey(sshLog: string, fingerprint: string): { sessions: number; logins: number } {
  const ports = new Set<string>();
  let logins = 0;
  let sessions = 0;
  for (const line of readFileSync(sshLog, 'utf8').split('\n')) {
    const accepted = /^Accepted publickey for \S+ from \S+ port (\d+) .*(SHA256:\S+)/.exec(line);
    if (accepted && accepted[2] === fingerprint) {
      ports.add(accepted[1]!);
      logins += 1;
    }
    const started = /^Starting session: command for \S+ from \S+ port (\d+)/.exec(line);
    if (started && ports.has(started[1]!)) sessions += 1;
  }
  return { sessions, logins };
}
