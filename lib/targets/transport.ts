import { words } from '../shell/index.js';
import { loadExeca } from './lazy-execa.js';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
  /** The connection dropped before the script reported its exit: what it did after that is unknown here. */
  readonly connectionLost?: boolean;
}

export interface RunOptions {
  /** Called with each complete line of stdout as it arrives (progress). */
  readonly onLine?: (line: string) => void;
}

/**
 * How commands travel to a target. Each `run` is one round trip: a whole bash
 * script sent on stdin and executed there. What the script does is decided
 * elsewhere (plan, apply); the transport only carries it.
 */
export interface Transport {
  /** For messages: `local`, `ssh root@127.0.0.1:2222`. */
  readonly description: string;
  run(script: string, options?: RunOptions): Promise<ExecResult>;
  /**
   * Starts the next round trip's remote shell (sshd's session, the login
   * shell) and resolves once it is under way, so it starts up while this
   * process renders. Only for a round trip that will be made: sshd logs
   * every session started.
   */
  prewarm?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The command that runs one script sent on stdin (the local target, and the
 * system ssh client), for the reasons script-session.ts gives for its loop:
 * `$(cat)` rather than `bash -s` (one read(2) per byte), `--norc`.
 */
export const STDIN_SCRIPT_ARGV = ['bash', '--norc', '-c', 'eval "$(cat)"'] as const;

/** STDIN_SCRIPT_ARGV as one command line, for ssh (sh, csh and fish login shells read it alike). */
export const STDIN_SCRIPT_COMMAND = words(STDIN_SCRIPT_ARGV);

/**
 * Wraps a script so bash parses all of it before running any of it: nothing
 * in the script can then read the rest of the script from stdin.
 */
export function wrapScript(script: string): string {
  return `hpcdk_main() {\n${script}\n}\nhpcdk_main </dev/null\n`;
}

/** Splits a stream into lines for `onLine`, keeping the partial last line. */
export function lineSplitter(onLine: ((line: string) => void) | undefined): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    if (!onLine) return;
    buffer += chunk;
    let nl = buffer.indexOf('\n');
    while (nl >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
  };
}

/** Runs scripts with the local bash: the `local` target's transport. */
export class LocalTransport implements Transport {
  public readonly description = 'local';

  public async run(script: string, options: RunOptions = {}): Promise<ExecResult> {
    const child = (await loadExeca())(STDIN_SCRIPT_ARGV[0], STDIN_SCRIPT_ARGV.slice(1), {
      input: wrapScript(script),
      reject: false,
      encoding: 'utf8',
      buffer: true,
      stripFinalNewline: false,
    });
    const split = lineSplitter(options.onLine);
    child.stdout?.on('data', (d: Buffer) => split(d.toString('utf8')));
    const r = await child;
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
  }

  public async close(): Promise<void> {}
}
