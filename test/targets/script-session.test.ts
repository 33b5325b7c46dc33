import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  newMarker,
  ScriptSession,
  SessionPool,
  sessionCommand,
  type SessionStreams,
} from '../../lib/targets/script-session.js';

/** A session as sshd starts one: the login shell (here sh) runs the session command line. */
const children: ChildProcess[] = [];
function startLocally(command: string): SessionStreams {
  // A process group of its own, so a test can kill the whole remote side at once.
  const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  children.push(child);
  return {
    stdin: child.stdin!,
    stdout: child.stdout!,
    stderr: child.stderr!,
    onClose: (callback) => child.on('close', callback),
  };
}

function localSession(): { session: ScriptSession; child: ChildProcess } {
  const marker = newMarker();
  const session = new ScriptSession(startLocally(sessionCommand(marker)), marker);
  return { session, child: children.at(-1)! };
}

function killAll(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

afterEach(() => {
  for (const c of children.splice(0)) killAll(c);
});

describe('ScriptSession', () => {
  it('GIVEN one session WHEN scripts run in turn THEN each gets exactly its own stdout, stderr and exit status', async () => {
    const { session } = localSession();
    const first = await session.run('echo one; echo err >&2; printf "no newline at the end"');
    expect(first).toEqual({ stdout: 'one\nno newline at the end', stderr: 'err\n', exitCode: 0 });
    const second = await session.run('set -e; false; echo never');
    expect(second).toEqual({ stdout: '', stderr: '', exitCode: 1 });
    // set -e, variables and exit of one script do not reach the next.
    const third = await session.run('x=1; exit 7');
    expect(third.exitCode).toBe(7);
    const fourth = await session.run('echo "x=${x:-unset}"; false || echo carried on');
    expect(fourth).toEqual({ stdout: 'x=unset\ncarried on\n', stderr: '', exitCode: 0 });
  });

  it('GIVEN a script that reads stdin WHEN it runs THEN it reads nothing, and the session still takes the next script', async () => {
    const { session } = localSession();
    const r = await session.run('cat; echo "read done"');
    expect(r).toEqual({ stdout: 'read done\n', stderr: '', exitCode: 0 });
    expect((await session.run('echo next')).stdout).toBe('next\n');
  });

  it('GIVEN a script of a megabyte, in UTF-8 WHEN it runs THEN it arrives whole', async () => {
    const { session } = localSession();
    const payload = 'é'.repeat(500_000);
    const r = await session.run(`v='${payload}'\necho "\${#v}"`);
    expect(r).toEqual({ stdout: '500000\n', stderr: '', exitCode: 0 });
  });

  it('GIVEN lines printed as they happen WHEN onLine is given THEN it sees each line and never the end marker', async () => {
    const { session } = localSession();
    const lines: string[] = [];
    const r = await session.run('echo "@@step a"; echo "@@step b"', { onLine: (l) => lines.push(l) });
    expect(r.stdout).toBe('@@step a\n@@step b\n');
    expect(lines.filter((l) => l !== '')).toEqual(['@@step a', '@@step b']);
    expect(lines.some((l) => l.includes('hpcdk-end-'))).toBe(false);
  });

  it('GIVEN a character whose bytes arrive in two chunks WHEN read THEN it is decoded whole', async () => {
    // The framing alone, over streams fed by hand: where a network splits its chunks is not up to a test.
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const session = new ScriptSession({ stdin, stdout, stderr, onClose: () => {} }, 'END');
    const running = session.run('ignored');
    const bytes = Buffer.from('é\n', 'utf8');
    stdout.write(bytes.subarray(0, 1));
    stdout.write(Buffer.concat([bytes.subarray(1), Buffer.from('\nEND 0\n')]));
    stderr.write(Buffer.concat([Buffer.from('ü', 'utf8').subarray(0, 1)]));
    stderr.write(Buffer.concat([Buffer.from('ü', 'utf8').subarray(1), Buffer.from('\nEND\n')]));
    expect(await running).toEqual({ stdout: 'é\n', stderr: 'ü', exitCode: 0 });
  });

  it('GIVEN the remote side dies mid-script WHEN the script runs THEN the result says the connection was lost, with the output so far', async () => {
    const { session, child } = localSession();
    const running = session.run('echo started; sleep 30; echo never');
    await new Promise((r) => setTimeout(r, 300));
    killAll(child);
    const r = await running;
    expect(r.connectionLost).toBe(true);
    expect(r.stdout).toBe('started\n');
    expect(session.usable).toBe(false);
  });
});

describe('SessionPool', () => {
  it('GIVEN scripts run one after another THEN they share one session; run side by side THEN each gets its own', async () => {
    const commands: string[] = [];
    const pool = new SessionPool(async (command) => {
      commands.push(command);
      return startLocally(command);
    });
    await pool.prewarm();
    expect((await pool.run('echo a')).stdout).toBe('a\n');
    expect((await pool.run('echo b')).stdout).toBe('b\n');
    expect(commands).toHaveLength(1);
    const both = await Promise.all([pool.run('sleep 0.2; echo c'), pool.run('echo d')]);
    expect(both.map((r) => r.stdout)).toEqual(['c\n', 'd\n']);
    expect(commands).toHaveLength(2);
    await pool.end();
  });

  it('GIVEN a session that could not be opened WHEN a script is run THEN the run fails with that error', async () => {
    const pool = new SessionPool(async () => {
      throw new Error('channel refused');
    });
    await pool.prewarm();
    await expect(pool.run('echo a')).rejects.toThrow('channel refused');
  });
});
