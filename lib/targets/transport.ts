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
  close(): Promise<void>;
}

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
    const child = (await loadExeca())('bash', ['-s'], { input: wrapScript(script), reject: false, encoding: 'utf8', buffer: true, stripFinalNewline: false });
    const split = lineSplitter(options.onLine);
    child.stdout?.on('data', (d: Buffer) => split(d.toString('utf8')));
    const r = await child;
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
  }

  public async close(): Promise<void> {}
}
