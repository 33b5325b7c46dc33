import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { applyInputs } from '../../lib/apply/apply.js';
import { applyProgram, countSteps, type ApplyInputs } from '../../lib/apply/program.js';
import { ClusterProfile, Job, PythonEnv, RuntimeRef, Sweep, TextFile, Testing } from '../../lib/index.js';
import { computePlan } from '../../lib/plan/plan.js';
import { parseRead } from '../../lib/plan/read-target.js';
import { foldJournal } from '../../lib/state/journal.js';
import { synthesizeStack } from '../../lib/synth/synthesize.js';
import { helperProgram, type SubmitStep } from '../../lib/targets/automation/apply.js';
import { sftpOptions } from '../../lib/targets/automation/channel.js';
import {
  ALLOWED_COMMANDS,
  AutomationRefusedError,
  checkCommand,
  isAllowedCommand,
  remoteStackDir,
} from '../../lib/targets/automation/commands.js';
import { HELPER_NAME, HELPER_PY } from '../../lib/targets/automation/helper.js';
import { lastJobId, logPath } from '../../lib/state/log-names.js';
import { connect } from '../../lib/targets/connection.js';
import { LocalTransport } from '../../lib/targets/transport.js';
import { REPO } from '../helpers/project.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hpcdk-automation-'));
  made.push(d);
  return d;
}

const robot = new ClusterProfile('robot', {
  scheduler: 'slurm',
  ssh: { host: 'robot' },
  automation: true,
  basePath: '/project/hpcdk',
  maxArraySize: 2,
  partitions: { debug: { maxTime: '01:00:00' } },
});

/** A stack of two files, two jobs with a dependency and a three-point sweep between them, planned against an empty target. */
function planned(extra?: (s: ReturnType<typeof Testing.stack>) => void): ApplyInputs {
  const s = Testing.stack({ targets: [robot] }, 'demo');
  new TextFile(s, 'config', { fileName: 'config.yaml', content: 'lr: 0.1\n' });
  new TextFile(s, 'notes', { content: 'n' });
  const prep = new Job(s, 'prep', { run: ['true'] });
  const sweep = new Sweep(s, 'sw', { grid: { x: [1, 2, 3] }, throttle: 2, run: [['echo', Sweep.param('x')]] });
  sweep.dependsOn(prep);
  new Job(s, 'train', { run: ['true'], singleton: true }).dependsOn(sweep);
  extra?.(s);
  const synthesis = synthesizeStack(s, robot, tempDir());
  const empty = parseRead('@@files\n@@end\n', 'demo~x');
  return applyInputs(computePlan(synthesis, empty), synthesis);
}

const conn = () => connect(robot, { projectDir: '/p', transportFor: async () => new LocalTransport() });

describe('automation mode: the commands it sends', () => {
  it('GIVEN the allow-list WHEN commands are checked THEN allowed ones become one line of words, others are refused', () => {
    expect(
      checkCommand(['python3', '/home/u/.hpcdk/.hpcdk/helper-1.py', 'read', '/home/u/.hpcdk/.hpcdk/requests/r.json']),
    ).toBe('python3 /home/u/.hpcdk/.hpcdk/helper-1.py read /home/u/.hpcdk/.hpcdk/requests/r.json');
    expect(isAllowedCommand('/usr/lib/openssh/sftp-server')).toBe(true);
    expect(isAllowedCommand('sbatch')).toBe(true);
    for (const refused of [
      ['bash', '-s'],
      ['sacct', '-j', '1'],
      ['sh', '-c', 'true'],
      ['env', 'python3'],
    ]) {
      expect(() => checkCommand(refused)).toThrow(AutomationRefusedError);
      expect(() => checkCommand(refused)).toThrow(`${refused[0]} is not a command an automation node allows`);
    }
  });

  it('GIVEN words with white space, quotes or globs WHEN checked THEN they are refused, naming the word', () => {
    expect(() => checkCommand(['python3', '/home/my lab/helper.py'])).toThrow(
      'the argument "/home/my lab/helper.py" contains white space',
    );
    expect(() => checkCommand(['python3', 'a\tb'])).toThrow(AutomationRefusedError);
    expect(() => checkCommand(['cat', '*.txt'])).toThrow('a glob character');
    expect(() => checkCommand(['cat', "'x'"])).toThrow('a quote');
    expect(() => checkCommand(['cat', ''])).toThrow('is empty');
  });

  it('GIVEN the test wrapper WHEN it is sent commands THEN it lets through exactly what isAllowedCommand allows', async () => {
    const log = join(tempDir(), 'wrapper.log');
    const wrapper = join(REPO, 'test', 'cluster', 'automation-wrapper.sh');
    const probes = [
      'echo hello',
      'python3 -c pass',
      'ls /',
      'cat /dev/null',
      'bash -c true',
      'sacct -V',
      'sh -c true',
      'echo$IFS-x',
      'env true',
      'timeout 1 true',
    ];
    for (const cmd of probes) {
      await execa('bash', [wrapper, log], { env: { SSH_ORIGINAL_COMMAND: cmd }, reject: false });
      const refused = readFileSync(log, 'utf8').trimEnd().split('\n').at(-1) === `REFUSED ${cmd}`;
      expect(refused, cmd).toBe(!isAllowedCommand(cmd.split(' ')[0]!));
    }
    expect(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('REFUSED ')).length,
    ).toBe(6);
    expect(ALLOWED_COMMANDS).not.toContain('bash');
  });

  it('GIVEN base paths WHEN made remote paths THEN ~ and $HOME become home-relative, absolute stays, other variables are refused', () => {
    expect(remoteStackDir(RuntimeRef.env('HOME').join('.hpcdk', 'demo'))).toBe('.hpcdk/demo');
    expect(remoteStackDir('/project/hpcdk/demo')).toBe('/project/hpcdk/demo');
    expect(() => remoteStackDir(RuntimeRef.env('SCRATCH').join('demo'))).toThrow(
      'names $SCRATCH, which an automation node cannot expand',
    );
  });

  it('GIVEN ssh options WHEN used for sftp THEN -l, -p and -J become -o options', () => {
    expect(sftpOptions(['-o', 'BatchMode=yes', '-F', 'cfg', '-l', 'me', '-p', '2222', '-J', 'jump'])).toEqual([
      '-o',
      'BatchMode=yes',
      '-F',
      'cfg',
      '-o',
      'User=me',
      '-o',
      'Port=2222',
      '-o',
      'ProxyJump=jump',
    ]);
  });

  it('GIVEN a journal and output patterns WHEN logs are located THEN the newest job and its file are found as the shell version finds them', () => {
    expect(lastJobId('job a i1 10 1\njob b i2 11 1\njob a i3 12 2\n', 'a')).toBe('12');
    expect(lastJobId('job b i2 11 1\n', 'a')).toBeUndefined();
    expect(logPath('logs/train/%x-%j.out', 'demo.train', '12')).toBe('logs/train/demo.train-12.out');
    expect(logPath('logs/sw/%x-%A_%a.out', 'demo.sw', '40_3')).toBe('logs/sw/demo.sw-40_3.out');
  });
});

describe('automation mode: the apply program', () => {
  it('GIVEN a plan with files, dependent jobs and a chunked sweep WHEN made a program THEN it has the apply script steps in order, sbatch argument lists and params files', async () => {
    const inputs = planned();
    const { request, files } = helperProgram(applyProgram(await conn(), inputs, 'apply'));
    const ops = request.steps.map((s) =>
      s.op === 'submit' ? `submit ${s.key}` : s.op === 'place' ? `place ${s.to}` : s.op,
    );
    expect(ops).toEqual([
      'place files/config/config.yaml',
      'place files/notes/notes',
      'place files/prep/job.sbatch',
      'place files/sw/sweep.sbatch',
      'place files/train/job.sbatch',
      'submit prep',
      expect.stringMatching(/^place params\/sw\/[0-9a-f]{16}\.sh$/),
      'submit sw',
      expect.stringMatching(/^place params\/sw\/[0-9a-f]{16}\.sh$/),
      'submit sw',
      'submit train',
    ]);
    const submits = request.steps.filter((s): s is SubmitStep => s.op === 'submit');
    expect(submits[0]).toMatchObject({
      args: ['--parsable', expect.stringMatching(/^--comment=hpcdk\/demo~[0-9a-f]{8}\/prep@[0-9a-f]{64}$/)],
      script: 'prep/job.sbatch',
      dependencies: [],
    });
    // maxArraySize 2: three points make two arrays, each throttled.
    expect(submits[1]).toMatchObject({
      args: ['--parsable', expect.stringMatching(/--comment=hpcdk\/demo~\w+\/sw@chunk-/), '--array=0-1%2'],
      dependencies: [{ type: 'afterok', submitted: 'prep' }],
    });
    expect(submits[1]!.points!.map((p) => [p.address, p.index])).toEqual([
      ['sw/x=1', 0],
      ['sw/x=2', 1],
    ]);
    expect(submits[2]).toMatchObject({
      args: [expect.any(String), expect.any(String), '--array=0-0%2'],
      paramsFile: expect.stringMatching(/^params\/sw\//),
    });
    expect(submits[3]).toMatchObject({ singleton: true, dependencies: [{ type: 'afterok', submitted: 'sw' }] });
    // Every file to place goes up to this apply's own incoming folder.
    expect(files.map((f) => f.path)).toEqual(files.map((_, i) => `.hpcdk/incoming/${request.incoming}/${i + 1}`));
    expect(files.find((f) => String(f.content).includes('SLURM_ARRAY_TASK_ID'))).toBeDefined();
    // Each @@ line the helper prints is a step countSteps expects.
    const says = request.steps.reduce((n, s) => n + (s.op === 'submit' ? 1 : 'say' in s ? (s.say?.length ?? 0) : 0), 0);
    expect(says).toBe(countSteps(inputs.plan, robot.spec.maxArraySize));
    expect(request).toMatchObject({ serial: 0, ttl: 7200, owner: expect.stringMatching(/op=apply$/) });
  });

  it('GIVEN a plan that builds on the login node WHEN made a program THEN it is refused, naming the resource', async () => {
    const inputs = planned((s) => new PythonEnv(s, 'env', { requirements: ['numpy==2.0.0'], build: 'login' }));
    const c = await conn();
    expect(() => helperProgram(applyProgram(c, inputs, 'apply'))).toThrow(
      "[env] python-env cannot be built on an automation node: build it in the job (build: 'job') or apply once from an interactive session",
    );
  });

  it('GIVEN a submission whose words hold a space WHEN made a program THEN it is refused before anything is sent', async () => {
    const inputs = planned();
    const resources = inputs.resources.map((r) =>
      r.address === 'prep' && r.kind === 'job' ? { ...r, spec: { ...r.spec, script: 'my prep/job.sbatch' } } : r,
    );
    const c = await conn();
    expect(() => helperProgram(applyProgram(c, { ...inputs, resources }, 'apply'))).toThrow(
      /\[prep\] sbatch: the argument "files\/my prep\/job\.sbatch" contains white space/,
    );
  });
});

describe('automation mode: the helper, run by python3 here', () => {
  const python = existsSync('/usr/bin/python3')
    ? '/usr/bin/python3'
    : execFileSync('which', ['python3'], { encoding: 'utf8' }).trim();

  it('GIVEN its source WHEN read THEN it starts no shell and never asks sacct', () => {
    // The code, without comments and docstrings.
    const code = HELPER_PY.split('\n')
      .map((l) => l.replace(/#.*$/, ''))
      .filter((l) => !l.trim().startsWith('"""'))
      .join('\n');
    expect(code).not.toMatch(/shell\s*=\s*True|os\.system|os\.popen|os\.exec|\bbash\b|['"](\/bin\/)?sh['"]|sacct/);
    expect(code).toMatch(/\['squeue', '-h', '-r', '-t', 'all'/);
    expect(HELPER_NAME).toMatch(/^helper-[0-9a-f]{16}\.py$/);
  });

  /** A base folder with the helper in place; runs it with no scheduler on PATH. */
  function base(): {
    dir: string;
    run: (mode: string, request: object) => Promise<{ stdout: string; stderr: string; exitCode: number }>;
  } {
    const dir = tempDir();
    mkdirSync(join(dir, '.hpcdk', 'requests'), { recursive: true });
    writeFileSync(join(dir, '.hpcdk', HELPER_NAME), HELPER_PY);
    let n = 0;
    return {
      dir,
      run: async (mode, request) => {
        const file = join(dir, '.hpcdk', 'requests', `${(n += 1)}.json`);
        writeFileSync(file, JSON.stringify(request));
        const r = await execa(python, [join(dir, '.hpcdk', HELPER_NAME), mode, file], {
          reject: false,
          extendEnv: false,
          env: { PATH: tempDir() },
          stripFinalNewline: false,
        });
        expect(existsSync(file), 'the request is removed once read').toBe(false);
        return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 1 };
      },
    };
  }

  function put(path: string, content: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }

  it('GIVEN a deployed stack WHEN read THEN parseRead gets its files, diffs, journal, lock, exit records and recorded locks', async () => {
    const { dir, run } = base();
    const d = join(dir, 'demo');
    put(join(d, 'files', 'a', 'same.txt'), 'same\n');
    put(join(d, 'files', 'a', 'changed.txt'), 'old\n');
    put(join(d, 'files', 'a', '.hidden'), 'x');
    put(join(d, '.hpcdk', 'journal'), 'file a/same.txt 0 1\njob prep id1 41 2\njob sw/x=1 id2 42_0 3');
    put(join(d, '.hpcdk', 'lock', 'owner'), 'me@there op=apply host=h pid=1 since=2\n');
    put(join(d, '.hpcdk', 'exits', '41'), '0\n');
    put(join(d, '.hpcdk', 'exits', '42_0'), '3\n');
    put(join(d, '.hpcdk', 'locks', 'env', 'lock.txt'), 'numpy==2.0.0\n');
    const sha = (s: string) => execFileSync('sha256sum', { input: s, encoding: 'utf8' }).split(' ')[0]!;
    const r = await run('read', {
      stack: 'demo',
      expected: { 'a/same.txt': sha('same\n'), 'a/changed.txt': sha('new\n') },
      scripts: [],
      locks: ['env', 'other'],
      commentPrefix: 'hpcdk/demo~x/',
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const actual = parseRead(r.stdout, 'demo~x');
    expect(actual.files).toEqual(
      new Map([
        ['a/changed.txt', sha('old\n')],
        ['a/same.txt', sha('same\n')],
      ]),
    );
    expect(actual.contents).toEqual(new Map([['a/changed.txt', 'old\n']]));
    expect(actual.serial).toBe(3);
    expect(actual.recorded.jobs.get('sw/x=1')![0]!.id).toBe('42_0');
    expect(actual.lock).toBe('me@there op=apply host=h pid=1 since=2');
    expect(actual.jobs.get('41')).toMatchObject({ state: 'COMPLETED', exitCode: 0 });
    expect(actual.jobs.get('42_0')).toMatchObject({ state: 'FAILED', exitCode: 3 });
    expect(actual.packageLocks).toEqual(new Map([['env', 'numpy==2.0.0\n']]));
    expect(r.stdout).toMatch(/@@refused\n@@builds\n@@runs\n@@queue\n@@end\n$/);
  });

  it('GIVEN an apply program without submissions WHEN run THEN files are placed and removed, journalled, and the lock released', async () => {
    const { dir, run } = base();
    const d = join(dir, 'demo');
    put(join(d, 'files', 'old', 'x'), 'x');
    put(join(d, '.hpcdk', 'journal'), 'file old/x 0 1\n');
    put(join(d, '.hpcdk', 'incoming', 'in1', '1'), 'echo hi\n');
    const steps = [
      {
        op: 'place',
        file: '1',
        to: 'files/new/run.sh',
        mode: 0o755,
        journal: [['file', 'new/run.sh', 'abc']],
        say: ['upload new/run.sh'],
      },
      { op: 'remove', path: 'files/old/x', journal: [['rmfile', 'old/x']], say: ['delete old/x'] },
      { op: 'journal', journal: [['forget', 'old']] },
    ];
    const r = await run('apply', {
      stack: 'demo',
      incoming: 'in1',
      owner: 'ci@runner op=apply',
      serial: 1,
      ttl: 7200,
      steps,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('@@step upload new/run.sh\n@@step delete old/x\n@@done\n');
    expect(readFileSync(join(d, 'files', 'new', 'run.sh'), 'utf8')).toBe('echo hi\n');
    expect(statSync(join(d, 'files', 'new', 'run.sh')).mode & 0o777).toBe(0o755);
    expect(existsSync(join(d, 'files', 'old', 'x'))).toBe(false);
    const journal = readFileSync(join(d, '.hpcdk', 'journal'), 'utf8');
    expect(journal).toMatch(/^file old\/x 0 1\nfile new\/run\.sh abc \d+\nrmfile old\/x \d+\nforget old \d+\n$/);
    expect(foldJournal(journal).files).toEqual(new Map([['new/run.sh', 'abc']]));
    expect(existsSync(join(d, '.hpcdk', 'lock'))).toBe(false);
    expect(existsSync(join(d, '.hpcdk', 'incoming', 'in1'))).toBe(false);
  });

  it('GIVEN a journal that moved on WHEN applied THEN it says stale, changes nothing and releases the lock', async () => {
    const { dir, run } = base();
    const d = join(dir, 'demo');
    put(join(d, '.hpcdk', 'journal'), 'file a 0 1\nfile b 0 2\n');
    const r = await run('apply', {
      stack: 'demo',
      incoming: 'i',
      owner: 'o',
      serial: 1,
      ttl: 7200,
      steps: [{ op: 'journal', journal: [['forget', 'x']] }],
    });
    expect(r).toMatchObject({ exitCode: 4, stdout: '@@stale 2\n' });
    expect(readFileSync(join(d, '.hpcdk', 'journal'), 'utf8')).toBe('file a 0 1\nfile b 0 2\n');
    expect(existsSync(join(d, '.hpcdk', 'lock'))).toBe(false);
  });

  it('GIVEN a lock held by a live process, then by a gone one WHEN applied THEN the first is refused as locked and the second taken over', async () => {
    const { dir, run } = base();
    const d = join(dir, 'demo');
    const host = execFileSync(python, ['-c', 'import socket; print(socket.gethostname())'], {
      encoding: 'utf8',
    }).trim();
    const owner = `other@x op=apply host=${host} pid=${process.pid} since=${Math.floor(Date.now() / 1000)}`;
    put(join(d, '.hpcdk', 'lock', 'owner'), `${owner}\n`);
    const locked = await run('apply', { stack: 'demo', incoming: 'i', owner: 'o', serial: 0, ttl: 7200, steps: [] });
    expect(locked).toMatchObject({ exitCode: 3, stdout: `@@locked ${owner}\n` });
    expect(existsSync(join(d, '.hpcdk', 'lock', 'owner')), 'a lock it does not hold is left alone').toBe(true);
    // A pid that cannot be alive: beyond the kernel's pid_max.
    put(join(d, '.hpcdk', 'lock', 'owner'), `other@x op=apply host=${host} pid=99999999 since=1\n`);
    const taken = await run('apply', { stack: 'demo', incoming: 'i', owner: 'o', serial: 0, ttl: 7200, steps: [] });
    expect(taken.exitCode, taken.stderr).toBe(0);
    expect(taken.stdout).toBe(
      `@@note taking over a stale lock (other@x op=apply host=${host} pid=99999999 since=1)\n@@done\n`,
    );
  });

  it('GIVEN a lock WHEN unlocked THEN its owner is printed and it is gone', async () => {
    const { dir, run } = base();
    put(join(dir, 'demo', '.hpcdk', 'lock', 'owner'), 'someone op=apply host=h pid=1 since=1\n');
    expect(await run('unlock', { stack: 'demo' })).toMatchObject({
      exitCode: 0,
      stdout: 'someone op=apply host=h pid=1 since=1\n',
    });
    expect(existsSync(join(dir, 'demo', '.hpcdk', 'lock'))).toBe(false);
    expect(await run('unlock', { stack: 'demo' })).toMatchObject({ exitCode: 0, stdout: '' });
  });
});
