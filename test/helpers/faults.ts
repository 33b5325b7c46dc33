import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { waitFor } from './wait.js';

/**
 * Fault injection for the apply script on the test cluster, with no hook in
 * hpcdk itself: a key of the test's own logs in with
 * `environment="BASH_ENV=<dir>/faults.sh"` (sshd's PermitUserEnvironment), and
 * bash sources that file in hpcdk's session shell. Its DEBUG trap counts the
 * apply script's commands, from the lock on, and acts on the one the test names:
 *
 * - `trace`: record every command, numbered, to learn the kill points;
 * - `kill N`: kill -9 the script just before command N runs;
 * - `pause N`: stop before command N until the test says go on.
 *
 * Each mode fires once: the re-run that follows is left alone.
 */
const FAULTS_SH = (dir: string) => `# Sourced by bash (BASH_ENV) in this key's SSH sessions only.
hpcdk_fault_dir=${dir}
# Only in hpcdk's session shell (its $0), not in the login shell that starts it.
if [ "$0" = hpcdk-session ] && [ -z "\${HPCDK_FAULTS_SEEN:-}" ] && [ -e "$hpcdk_fault_dir/mode" ]; then
  export HPCDK_FAULTS_SEEN=1
  read -r hpcdk_fault_mode hpcdk_fault_at < "$hpcdk_fault_dir/mode"
  hpcdk_fault_n=0
  hpcdk_fault_armed=
  hpcdk_fault() {
    # Each script runs in a subshell of the session's loop: count its own commands only.
    [ "$BASH_SUBSHELL" = 1 ] || return 0
    if [ -z "$hpcdk_fault_armed" ]; then
      [[ $BASH_COMMAND == hpcdk_lock_take* ]] || return 0
      hpcdk_fault_armed=1
      [ "$hpcdk_fault_mode" = trace ] || rm -f "$hpcdk_fault_dir/mode"
    fi
    hpcdk_fault_n=$((hpcdk_fault_n + 1))
    case "$hpcdk_fault_mode" in
      trace) printf '%s\\t%s\\n' "$hpcdk_fault_n" "\${BASH_COMMAND//$'\\n'/ }" >> "$hpcdk_fault_dir/trace" ;;
      # The session and the script in it, as if the whole remote side died.
      kill) [ "$hpcdk_fault_n" != "$hpcdk_fault_at" ] || kill -9 $$ $BASHPID ;;
      pause)
        if [ "$hpcdk_fault_n" = "$hpcdk_fault_at" ]; then
          echo "$$" > "$hpcdk_fault_dir/paused"
          for _ in $(seq 600); do [ -e "$hpcdk_fault_dir/go" ] && break; sleep 0.1; done
          rm -f "$hpcdk_fault_dir/go"
        fi ;;
    esac
  }
  set -T
  trap hpcdk_fault DEBUG
fi
`;

export interface TraceEntry {
  readonly n: number;
  readonly command: string;
}

export interface FaultyKey {
  /** An ssh config whose test-cluster alias logs in with this key (for HPCDK_SSH_CONFIG). */
  readonly config: string;
  trace(): void;
  kill(at: number): void;
  pause(at: number): void;
  /** The commands recorded by the last `trace` run; tracing stops. */
  takeTrace(): TraceEntry[];
  /** Waits for a paused script; returns its pid on the target. */
  paused(): Promise<number>;
  resume(): void;
  /** Whether the last kill or pause fired (the mode file is removed when it does). */
  fired(): boolean;
}

/** A key authorized on the test cluster whose sessions source a fault file. */
export async function faultyKey(env: Record<string, string>, dir: string): Promise<FaultyKey> {
  const faults = join(dir, 'faults');
  mkdirSync(faults, { recursive: true });
  writeFileSync(join(faults, 'faults.sh'), FAULTS_SH(faults));
  const key = join(dir, 'id_faulty');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  appendFileSync(
    join(env.HPCDK_CLUSTER_DIR!, 'keys', 'authorized_keys'),
    `environment="BASH_ENV=${faults}/faults.sh" ${readFileSync(`${key}.pub`, 'utf8')}`,
  );
  const config = join(dir, 'ssh_config_faulty');
  writeFileSync(config, readFileSync(env.HPCDK_SSH_CONFIG!, 'utf8').replace(/IdentityFile .*/, `IdentityFile ${key}`));
  const mode = join(faults, 'mode');
  const setMode = (text: string) => {
    rmSync(join(faults, 'paused'), { force: true });
    writeFileSync(mode, `${text}\n`);
  };
  return {
    config,
    trace: () => {
      rmSync(join(faults, 'trace'), { force: true });
      setMode('trace 0');
    },
    kill: (at) => setMode(`kill ${at}`),
    pause: (at) => setMode(`pause ${at}`),
    takeTrace: () => {
      rmSync(mode, { force: true });
      const text = existsSync(join(faults, 'trace')) ? readFileSync(join(faults, 'trace'), 'utf8') : '';
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const tab = line.indexOf('\t');
          return { n: Number(line.slice(0, tab)), command: line.slice(tab + 1) };
        });
    },
    paused: () =>
      waitFor(
        'the apply script to pause',
        async () => {
          const file = join(faults, 'paused');
          return existsSync(file) && readFileSync(file, 'utf8').trim() !== ''
            ? Number(readFileSync(file, 'utf8').trim())
            : undefined;
        },
        30_000,
      ),
    resume: () => writeFileSync(join(faults, 'go'), ''),
    fired: () => !existsSync(mode),
  };
}

/** The sshd process serving the session that runs `pid`: killing it drops that one connection. */
export async function sshdSessionOf(pid: number): Promise<number> {
  let current = pid;
  for (let i = 0; i < 10; i++) {
    const r = await execa('ps', ['-o', 'ppid=,comm=', '-p', String(current)], { reject: false });
    const [ppid, comm] = r.stdout.trim().split(/\s+/);
    if (!ppid) break;
    current = Number(ppid);
    const parent = await execa('ps', ['-o', 'comm=', '-p', String(current)], { reject: false });
    if (parent.stdout.trim() === 'sshd' && comm !== 'sshd') return current;
  }
  throw new Error(`no sshd session above pid ${pid}`);
}
