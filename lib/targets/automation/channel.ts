import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Client, SFTPWrapper } from 'ssh2';
import { lineSplitter, type ExecResult, type RunOptions } from '../transport.js';
import { checkCommand, checkWords } from './commands.js';
import { loadExeca } from '../lazy-execa.js';

/** A file to write on the target. */
export interface RemoteFile {
  /** Absolute, or relative to the home directory. */
  readonly path: string;
  readonly content: string | Buffer;
  readonly mode: number;
  /** Content-named (the helper): written only when absent, under a temporary name first. */
  readonly once?: boolean;
}

/**
 * How the automation mode reaches a target: files go up and come back over
 * sftp (the wrapper sees `…/sftp-server`), and each command is one line of
 * allow-listed words.
 */
export interface AutomationChannel {
  readonly description: string;
  /** Reads files (undefined where there is none); writes nothing. */
  read(paths: readonly string[]): Promise<Array<Buffer | undefined>>;
  /** Writes files, making their folders; returns the home directory. */
  put(files: readonly RemoteFile[]): Promise<string>;
  /** Runs one command: its words joined by single spaces, which is what the wrapper sees. */
  exec(argv: readonly string[], options?: RunOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

type SftpError = Error & { code?: number };
const NO_SUCH_FILE = 2;

function call<T>(what: string, f: (cb: (err: SftpError | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    f((err, value) =>
      err ? reject(Object.assign(new Error(`sftp ${what}: ${err.message}`), { code: err.code })) : resolve(value as T),
    ),
  );
}

async function exists(s: SFTPWrapper, path: string): Promise<boolean> {
  try {
    await call('stat', (cb) => s.stat(path, cb));
    return true;
  } catch (e) {
    if ((e as SftpError).code === NO_SUCH_FILE) return false;
    throw e;
  }
}

/** Runs `task` over `items`, at most `width` at once (sftp requests pipeline on one channel). */
async function eachLimited<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** The built-in client: one sftp session kept for the whole command, and exec requests, on one connection. */
export class Ssh2Channel implements AutomationChannel {
  private session?: Promise<SFTPWrapper>;
  private home?: Promise<string>;
  private readonly folders = new Map<string, Promise<void>>();

  constructor(
    private readonly client: Client,
    public readonly description: string,
    private readonly closeConnection: () => Promise<void>,
  ) {}

  private sftp(): Promise<SFTPWrapper> {
    this.session ??= call<SFTPWrapper>('session', (cb) => this.client.sftp(cb));
    return this.session;
  }

  public async read(paths: readonly string[]): Promise<Array<Buffer | undefined>> {
    const s = await this.sftp();
    return Promise.all(
      paths.map((p) =>
        call<Buffer>(`read ${p}`, (cb) => s.readFile(p, cb)).catch((e: SftpError) => {
          if (e.code === NO_SUCH_FILE) return undefined;
          throw e;
        }),
      ),
    );
  }

  private mkdirs(s: SFTPWrapper, dir: string): Promise<void> {
    let made = this.folders.get(dir);
    if (!made) {
      made = (async () => {
        if (await exists(s, dir)) return;
        const parent = posix.dirname(dir);
        if (parent !== dir) await this.mkdirs(s, parent);
        await call('mkdir', (cb) => s.mkdir(dir, cb)).catch(async (e) => {
          if (!(await exists(s, dir))) throw e;
        });
      })();
      this.folders.set(dir, made);
    }
    return made;
  }

  public async put(files: readonly RemoteFile[]): Promise<string> {
    const s = await this.sftp();
    this.home ??= call<string>('realpath', (cb) => s.realpath('.', cb));
    const home = await this.home;
    await eachLimited(files, 16, async (f) => {
      const path = posix.resolve(home, f.path);
      await this.mkdirs(s, posix.dirname(path));
      if (!f.once) return call('write', (cb) => s.writeFile(path, f.content, { mode: f.mode }, cb));
      if (await exists(s, path)) return;
      const partial = `${path}.${randomBytes(4).toString('hex')}.partial`;
      await call('write', (cb) => s.writeFile(partial, f.content, { mode: f.mode }, cb));
      await call('rename', (cb) => s.ext_openssh_rename(partial, path, cb));
    });
    return home;
  }

  public exec(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
    const command = checkCommand(argv);
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(new Error(`${this.description}: ${err.message}`));
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        const split = lineSplitter(options.onLine);
        let exitCode = 255;
        stream.on('data', (d: Buffer) => {
          out.push(d);
          split(d.toString('utf8'));
        });
        stream.stderr.on('data', (d: Buffer) => errs.push(d));
        stream.on('exit', (code: number | null) => (exitCode = code ?? 255));
        stream.on('close', () =>
          resolve({
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(errs).toString('utf8'),
            exitCode,
          }),
        );
        stream.on('error', reject);
        stream.end();
      });
    });
  }

  public async close(): Promise<void> {
    await this.closeConnection();
  }
}

/** `ssh` options as `sftp` spells them: it has no -l, and its -p means something else. */
export function sftpOptions(sshArgs: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < sshArgs.length; i += 1) {
    const [flag, value] = [sshArgs[i]!, sshArgs[i + 1]!];
    const option = { '-l': 'User', '-p': 'Port', '-J': 'ProxyJump' }[flag];
    if (option) out.push('-o', `${option}=${value}`);
    else if (flag === '-F' || flag === '-o') out.push(flag, value);
    else {
      out.push(flag);
      continue;
    }
    i += 1;
  }
  return out;
}

/**
 * The system client: `sftp -b -` batches and `ssh host words…`, so a
 * ControlMaster connection is reused. Each batch is one sftp session.
 */
export class OpenSshChannel implements AutomationChannel {
  public readonly description: string;

  constructor(
    private readonly alias: string,
    private readonly sshArgs: readonly string[],
  ) {
    this.description = `ssh ${alias} (OpenSSH)`;
  }

  private async batch(commands: readonly string[], work: string): Promise<string> {
    const r = await (await loadExeca())('sftp', ['-b', '-', ...sftpOptions(this.sshArgs), this.alias], {
      input: `${commands.join('\n')}\n`,
      reject: false,
      cwd: work,
    });
    if (r.exitCode !== 0)
      throw new Error(
        `${this.description}: sftp failed (exit ${r.exitCode}): ${String(r.stderr).trim().split('\n').slice(-4).join('\n')}`,
      );
    return String(r.stdout);
  }

  private async inTempDir<T>(f: (work: string) => Promise<T>): Promise<T> {
    const work = mkdtempSync(join(tmpdir(), 'hpcdk-sftp-'));
    try {
      return await f(work);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  public read(paths: readonly string[]): Promise<Array<Buffer | undefined>> {
    checkWords(paths, 'sftp');
    return this.inTempDir(async (work) => {
      // `-get`: a missing file is not an error.
      await this.batch(
        paths.map((p, i) => `-get "${p}" ${i}`),
        work,
      );
      return paths.map((_, i) => (existsSync(join(work, String(i))) ? readFileSync(join(work, String(i))) : undefined));
    });
  }

  public put(files: readonly RemoteFile[]): Promise<string> {
    checkWords(
      files.map((f) => f.path),
      'sftp',
    );
    return this.inTempDir(async (work) => {
      const folders = new Set<string>();
      for (const f of files) {
        const parts = posix.dirname(f.path).split('/');
        for (let i = 1; i <= parts.length; i += 1)
          if (parts.slice(0, i).join('/') !== '') folders.add(parts.slice(0, i).join('/'));
      }
      const commands = ['pwd', ...[...folders].map((d) => `-mkdir "${d}"`)];
      files.forEach((f, i) => {
        writeFileSync(join(work, String(i)), f.content, { mode: f.mode });
        // Content-named files go up whole under a temporary name: a reader never sees half of one.
        const to = f.once ? `${f.path}.${randomBytes(4).toString('hex')}.partial` : f.path;
        commands.push(`put -p ${i} "${to}"`, ...(f.once ? [`rename "${to}" "${f.path}"`] : []));
      });
      const out = await this.batch(commands, work);
      const home = /^Remote working directory: (.+)$/m.exec(out)?.[1];
      if (!home) throw new Error(`${this.description}: sftp did not say the remote working directory`);
      return home.trim();
    });
  }

  public async exec(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
    checkCommand(argv);
    const child = (await loadExeca())('ssh', [...this.sshArgs, '-T', this.alias, ...argv], {
      reject: false,
      stripFinalNewline: false,
      stdin: 'ignore',
    });
    const split = lineSplitter(options.onLine);
    child.stdout?.on('data', (d: Buffer) => split(d.toString('utf8')));
    const r = await child;
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 255 };
  }

  public async close(): Promise<void> {}
}
