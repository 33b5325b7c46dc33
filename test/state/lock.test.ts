import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quote } from '../../lib/shell/index.js';
import { LOCK_FILE, LOCK_GATE_FILE } from '../../lib/state/layout.js';
import { describeLockOwner, FORCE_UNLOCK, LOCK_TTL_SECONDS, takeLockLines } from '../../lib/state/lock.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function stackDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hpcdk-lock-'));
  made.push(d);
  mkdirSync(join(d, '.hpcdk'));
  return d;
}

const HELPER = join(import.meta.dirname, '../../lib/targets/automation/helper.py');

/**
 * Bash that holds the lock for a critical section: read a counter, wait,
 * write it back plus one (lost updates show two holders). Each attempt is a
 * process of its own, as each apply is, so a holder that releases and exits
 * looks dead a moment later: the case a takeover must not misjudge.
 */
function bashContender(d: string, rounds: number): string {
  const attempt = `D=${JSON.stringify(d)}
${takeLockLines('apply')}
mkdir "$D/inside" || echo "two holders at once" >&2
n=$(cat "$D/counter"); sleep 0.0$((RANDOM % 3)); echo $((n + 1)) > "$D/counter"
rmdir "$D/inside"`;
  return `for round in $(seq ${rounds}); do
  until bash -c ${quote(attempt)} >/dev/null; do sleep 0.0$((RANDOM % 3 + 1)); done
done`;
}

/** The automation helper's own take_lock and release_lock, in a loop, on the same folder. */
function pythonContender(d: string, rounds: number): string {
  return `
import importlib.util, os, random, socket, time, sys
spec = importlib.util.spec_from_file_location('helper', ${JSON.stringify(HELPER)})
h = importlib.util.module_from_spec(spec); spec.loader.exec_module(h)
h.say = lambda line: None
d = ${JSON.stringify(d)}
lock = os.path.join(d, h.LOCK_FILE)
for _ in range(${rounds}):
    while True:
        token = '%d.%d' % (os.getpid(), random.getrandbits(32))
        owner = 'py@x op=apply host=%s pid=%d since=%d token=%s' % (socket.gethostname(), os.getpid(), int(time.time()), token)
        try:
            h.take_lock(lock, owner, token, 7200)
        except h.Stop:
            time.sleep(random.random() * 0.03)
            continue
        try:
            try:
                os.mkdir(os.path.join(d, 'inside'))
            except FileExistsError:
                sys.stderr.write('two holders at once\\n')
            with open(os.path.join(d, 'counter')) as f: n = int(f.read())
            time.sleep(random.random() * 0.02)
            with open(os.path.join(d, 'counter'), 'w') as f: f.write('%d\\n' % (n + 1))
            os.rmdir(os.path.join(d, 'inside'))
        finally:
            h.release_lock(lock, owner)
        break
`;
}

function run(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

describe('the stack lock', () => {
  it('GIVEN 8 bash and 4 Python holders contending WHEN each takes the lock 12 times THEN no two ever hold it at once and none is lost', async () => {
    const d = stackDir();
    writeFileSync(join(d, 'counter'), '0\n');
    const results = await Promise.all([
      ...Array.from({ length: 8 }, () => run('bash', ['-c', bashContender(d, 12)])),
      ...Array.from({ length: 4 }, () => run('python3', ['-c', pythonContender(d, 12)])),
    ]);
    expect(results).toEqual(Array(12).fill({ code: 0, stderr: '' }));
    // Every critical section's increment survived: the sections never overlapped.
    expect(Number(readFileSync(join(d, 'counter'), 'utf8'))).toBe(12 * 12);
    // AND the last holder released the lock and its gate
    expect(lstatExists(join(d, LOCK_FILE)) || lstatExists(join(d, LOCK_GATE_FILE))).toBe(false);
  }, 120_000);

  it('GIVEN a held lock WHEN another script starts THEN it prints who holds it and exits 3, leaving that lock in place', () => {
    const d = stackDir();
    const owner = `alice@laptop op=apply host=${hostname()} pid=${process.pid} since=${Math.floor(Date.now() / 1000)} token=t1`;
    symlinkSync(owner, join(d, LOCK_FILE));
    const r = spawnSync('bash', ['-c', `D=${JSON.stringify(d)}\n${takeLockLines('apply')}\necho ran`], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(3);
    expect(r.stdout).toBe(`@@locked ${owner}\n`);
    expect(readlinkSync(join(d, LOCK_FILE))).toBe(owner);
  });

  it('GIVEN a lock whose process is gone from this host, or one past its lease WHEN a script starts THEN it takes the lock over and says so', () => {
    for (const owner of [
      `bob@laptop op=apply host=${hostname()} pid=${deadPid()} since=${Math.floor(Date.now() / 1000)} token=t2`,
      `bob@laptop op=apply host=elsewhere pid=1 since=${Math.floor(Date.now() / 1000) - LOCK_TTL_SECONDS - 60} token=t3`,
    ]) {
      const d = stackDir();
      symlinkSync(owner, join(d, LOCK_FILE));
      const r = spawnSync(
        'bash',
        ['-c', `D=${JSON.stringify(d)}\n${takeLockLines('apply')}\nreadlink "$D/${LOCK_FILE}"`],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stdout).toBe(0);
      const [note, holder] = r.stdout.trim().split('\n');
      expect(note).toBe(`@@note taking over a stale lock (${owner})`);
      expect(holder).toMatch(/ op=apply host=\S+ pid=\d+ since=\d+ token=\S+$/);
      // AND it released its own lock at exit
      expect(lstatExists(join(d, LOCK_FILE))).toBe(false);
    }
  });

  it('GIVEN a gate left by a taker killed inside it WHEN a script starts THEN it takes the lock at once, and the gate is gone', () => {
    const d = stackDir();
    symlinkSync(
      `gate host=${hostname()} pid=${deadPid()} since=${Math.floor(Date.now() / 1000)} token=t9`,
      join(d, LOCK_GATE_FILE),
    );
    const started = Date.now();
    const r = spawnSync('bash', ['-c', `D=${JSON.stringify(d)}\n${takeLockLines('apply')}\necho held`], {
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('held\n');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lstatExists(join(d, LOCK_GATE_FILE)) || lstatExists(join(d, LOCK_FILE))).toBe(false);
  });

  it('GIVEN a lock on another host within its lease WHEN a script starts THEN it is not taken, however old its pid looks', () => {
    const d = stackDir();
    const owner = `carol@ws op=gc host=other-login pid=${deadPid()} since=${Math.floor(Date.now() / 1000) - 60} token=t4`;
    symlinkSync(owner, join(d, LOCK_FILE));
    const r = spawnSync('bash', ['-c', `D=${JSON.stringify(d)}\n${takeLockLines('apply')}`], { encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(readlinkSync(join(d, LOCK_FILE))).toBe(owner);
  });

  it('GIVEN a holder whose lock was replaced by another WHEN the first exits THEN it leaves the other lock alone', () => {
    const d = stackDir();
    const other = 'dave@ws op=apply host=x pid=1 since=1 token=t5';
    const r = spawnSync(
      'bash',
      [
        '-c',
        `D=${JSON.stringify(d)}\n${takeLockLines('apply')}\nrm -f "$D/${LOCK_FILE}"; ln -s ${JSON.stringify(other)} "$D/${LOCK_FILE}"`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(readlinkSync(join(d, LOCK_FILE))).toBe(other);
  });

  it('GIVEN a lock, or a lock folder an older hpcdk left WHEN force-unlocked THEN both are gone and their owners printed', () => {
    const d = stackDir();
    symlinkSync('erin@ws op=apply host=x pid=1 since=1 token=t6', join(d, LOCK_FILE));
    mkdirSync(join(d, '.hpcdk/lock'));
    writeFileSync(join(d, '.hpcdk/lock/owner'), 'old@ws op=apply host=y pid=2 since=2\n');
    const r = spawnSync('bash', ['-c', `D=${JSON.stringify(d)}\n${FORCE_UNLOCK}`], { encoding: 'utf8' });
    expect(r.stdout).toBe('erin@ws op=apply host=x pid=1 since=1 token=t6\nold@ws op=apply host=y pid=2 since=2\n');
    expect(lstatExists(join(d, LOCK_FILE)) || existsSync(join(d, '.hpcdk/lock'))).toBe(false);
  });

  it('describes an owner line for people', () => {
    expect(describeLockOwner('root@laptop op=apply host=login1 pid=42 since=1795406294 token=a.b')).toBe(
      'root@laptop (apply, pid 42 on login1, since 2026-11-23 03:58:14 UTC)',
    );
  });
});

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A pid that was alive a moment ago and is not now. */
function deadPid(): number {
  const r = spawnSync('bash', ['-c', 'sleep 0 & echo $!; wait'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}
