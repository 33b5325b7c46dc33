import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { words } from '../shell/index.js';
import { lineSplitter, wrapScript, type ExecResult, type RunOptions } from './transport.js';

/**
 * The remote end of a session: a bash that reads `<bytes>\n<script>` frames
 * from stdin and runs each script in a subshell of its own, then prints the
 * end marker ($1) with the exit status on stdout, and the marker alone on
 * stderr. One line, no `!`: csh and fish login shells pass it on unchanged.
 *
 * - `head -c` takes the script in large reads (bash reading a script from a
 *   pipe reads one byte per read(2)) and never reads past the frame.
 * - A script cut short (a dropped connection) leaves wrapScript's function
 *   unclosed, so eval refuses all of it and none of it runs.
 * - The subshell keeps `exit`, `set -e` and traps of one script from the next.
 * - `--norc`: sshd's bash reads ~/.bashrc even when not interactive; the login
 *   shell has read it already, and a second read (pyenv, conda init) can cost
 *   as much as the round trip. What scripts need from the site (`module`)
 *   comes from the profile's shellInit.
 */
const SESSION_LOOP =
  'while IFS= read -r hpcdk_n; do hpcdk_s=$(head -c "$hpcdk_n"); ( eval "$hpcdk_s" ) </dev/null; hpcdk_c=$?; ' +
  `printf '\\n%s %s\\n' "$1" "$hpcdk_c"; printf '\\n%s\\n' "$1" >&2; done`;

/** The command line that starts a session whose scripts end with `marker`. */
export function sessionCommand(marker: string): string {
  return words(['bash', '--norc', '-c', SESSION_LOOP, 'hpcdk-session', marker]);
}

/** A marker no script's output holds by chance. */
export function newMarker(): string {
  return `hpcdk-end-${randomBytes(12).toString('hex')}`;
}

/** The streams of a started session: an ssh2 exec channel, or any process's stdio. */
export interface SessionStreams {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Registers the callback for when the remote end has gone (channel closed, process exited). */
  onClose(callback: () => void): void;
}

interface Pending {
  readonly resolve: (r: ExecResult) => void;
  readonly split: (chunk: string) => void;
  out: string;
  err: string;
  exitCode?: number;
  errDone: boolean;
}

/**
 * One remote bash that runs scripts in turn: every round trip after the first
 * skips sshd's session set-up and the login shell's start-up files, which on
 * a cluster's login node can take longer than the script itself.
 */
export class ScriptSession {
  private pending: Pending | undefined;
  private closed = false;

  constructor(
    private readonly streams: SessionStreams,
    private readonly marker: string,
  ) {
    // Decoders keep a character whose bytes arrive in two chunks whole.
    const out = new StringDecoder('utf8');
    const err = new StringDecoder('utf8');
    streams.stdout.on('data', (d: Buffer) => this.onStdout(out.write(d)));
    streams.stderr.on('data', (d: Buffer) => this.onStderr(err.write(d)));
    // A write after the remote end went away: the close below reports it.
    streams.stdin.on('error', () => {});
    streams.onClose(() => this.onClose());
  }

  /** Whether the session can take another script. */
  public get usable(): boolean {
    return !this.closed && this.pending === undefined;
  }

  /** Runs one script; a connection lost before its end marker gives `connectionLost`. */
  public run(script: string, options: RunOptions = {}): Promise<ExecResult> {
    if (!this.usable) return Promise.reject(new Error('the session is busy or closed'));
    return new Promise((resolve) => {
      const onLine = options.onLine;
      const split = lineSplitter(
        onLine ? (line) => (line.startsWith(this.marker) ? undefined : onLine(line)) : undefined,
      );
      this.pending = { resolve, split, out: '', err: '', errDone: false };
      const bytes = Buffer.from(wrapScript(script), 'utf8');
      this.streams.stdin.write(`${bytes.length}\n`);
      this.streams.stdin.write(bytes);
    });
  }

  /** Ends the session: the remote loop reads end of input and exits. */
  public end(): void {
    if (!this.closed) this.streams.stdin.end();
  }

  private onStdout(chunk: string): void {
    const p = this.pending;
    if (!p) return;
    p.out += chunk;
    p.split(chunk);
    // The marker line is the last thing a script's turn prints on stdout.
    const tail = new RegExp(`\\n${this.marker} (\\d+)\\n$`).exec(p.out.slice(-(this.marker.length + 16)));
    if (tail) {
      p.exitCode = Number(tail[1]);
      p.out = p.out.slice(0, p.out.length - tail[0].length);
      this.settle();
    }
  }

  private onStderr(chunk: string): void {
    const p = this.pending;
    if (!p) return;
    p.err += chunk;
    const end = `\n${this.marker}\n`;
    if (p.err.endsWith(end)) {
      p.err = p.err.slice(0, -end.length);
      p.errDone = true;
      this.settle();
    }
  }

  private settle(): void {
    const p = this.pending;
    if (!p || p.exitCode === undefined || !p.errDone) return;
    this.pending = undefined;
    p.resolve({ stdout: p.out, stderr: p.err, exitCode: p.exitCode });
  }

  private onClose(): void {
    this.closed = true;
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    // The remote end went away before the script's end marker: what it did after its last output is unknown here.
    p.resolve({ stdout: p.out, stderr: p.err, exitCode: p.exitCode ?? 255, connectionLost: true });
  }
}

/**
 * The sessions of one connection. A script goes to an idle session, or to a
 * new one when all are busy (scripts run side by side get a session each).
 */
export class SessionPool {
  private readonly idle: Array<Promise<ScriptSession>> = [];
  private readonly started: Array<Promise<ScriptSession>> = [];

  /** `start` opens the streams of a session running `command` (an exec channel). */
  constructor(private readonly start: (command: string) => Promise<SessionStreams>) {}

  /**
   * Starts a session, resolving once the remote command is running: from
   * then on its login shell starts up while this process works on, even
   * when that work holds the event loop (rendering a stack). A failure is
   * left for the run that takes the session.
   */
  public async prewarm(): Promise<void> {
    if (this.idle.length > 0) return;
    const opening = this.open();
    this.idle.push(opening);
    await opening.catch(() => {});
  }

  public async run(script: string, options?: RunOptions): Promise<ExecResult> {
    const session = await this.take();
    try {
      return await session.run(script, options);
    } finally {
      if (session.usable) this.idle.push(Promise.resolve(session));
    }
  }

  /** Ends every session; their remote loops exit. */
  public async end(): Promise<void> {
    for (const s of await Promise.allSettled(this.started)) if (s.status === 'fulfilled') s.value.end();
  }

  private async take(): Promise<ScriptSession> {
    while (this.idle.length > 0) {
      // A prewarmed session that failed to open fails this run, as opening it now would have.
      const session = await this.idle.shift()!;
      if (session.usable) return session;
    }
    return this.open();
  }

  private open(): Promise<ScriptSession> {
    const marker = newMarker();
    const opened = this.start(sessionCommand(marker)).then((streams) => new ScriptSession(streams, marker));
    // A prewarmed session's failure is reported by the run that takes it, not as an unhandled rejection.
    opened.catch(() => {});
    this.started.push(opened);
    return opened;
  }
}
