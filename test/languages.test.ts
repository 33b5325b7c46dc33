import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JOURNAL_FUNCTION, READ_SERIAL, serialCheckLines } from '../lib/state/journal.js';
import { QUEUED_STATES } from '../lib/state/job-states.js';
import { STACK_PATHS } from '../lib/state/layout.js';
import { FORCE_UNLOCK, GATE_TTL_SECONDS, READ_LOCK_OWNER, takeLockLines } from '../lib/state/lock.js';
import { readLogScript } from '../lib/state/log-names.js';
import { lintScript } from './helpers/shellcheck.js';

const LIB = join(import.meta.dirname, '../lib');

function filesEndingIn(dir: string, ending: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith(ending) && !name.includes('__pycache__'))
    .map((name) => join(dir, name))
    .sort();
}

describe('programs in other languages ship as files of their own', () => {
  it('GIVEN every .py file under lib/ WHEN compiled by python3 THEN it parses', () => {
    const files = filesEndingIn(LIB, '.py');
    expect(files.map((f) => relative(LIB, f))).toEqual(['render/env-info.py', 'targets/automation/helper.py']);
    for (const file of files) {
      // compile() and not py_compile: nothing is written beside the file.
      const r = spawnSync(
        'python3',
        ['-c', 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")', file],
        { encoding: 'utf8' },
      );
      expect(r.status, `${file}: ${r.stderr}`).toBe(0);
    }
  });

  it('GIVEN every .R file under lib/ WHEN parsed by R THEN it parses', () => {
    const files = filesEndingIn(LIB, '.R');
    expect(files.map((f) => relative(LIB, f))).toEqual(['render/r-install.R', 'render/r-lock.R']);
    for (const file of files) {
      const r = spawnSync('Rscript', ['-e', 'invisible(parse(file = commandArgs(TRUE)[1]))', file], {
        encoding: 'utf8',
      });
      expect(r.status, `${file}: ${r.stderr}`).toBe(0);
    }
  });

  it('GIVEN every .sh file under lib/ WHEN checked THEN bash -n and shellcheck accept it', () => {
    const files = filesEndingIn(LIB, '.sh');
    expect(files.map((f) => relative(LIB, f))).toEqual(['targets/local-runner.sh']);
    for (const file of files) expect(lintScript(readFileSync(file, 'utf8')), file).toBe('');
  });

  it('GIVEN the automation helper WHEN its layout constants are read THEN they equal lib/state/layout.ts and job-states.ts', () => {
    const helper = readFileSync(join(LIB, 'targets/automation/helper.py'), 'utf8');
    const constant = (name: string) => new RegExp(`^${name} = '([^']*)'$`, 'm').exec(helper)?.[1];
    for (const name of [
      'STATE_DIR',
      'JOURNAL_FILE',
      'LOCK_FILE',
      'LOCK_GATE_FILE',
      'LEGACY_LOCK_DIR',
      'PACKAGE_LOCKS_DIR',
      'EXITS_DIR',
      'INCOMING_DIR',
      'FILES_DIR',
    ] as const) {
      expect(constant(name), name).toBe(STACK_PATHS[name]);
    }
    expect(constant('ACTIVE_STATES'), 'ACTIVE_STATES').toBe(QUEUED_STATES.join(','));
    expect(/^GATE_TTL_SECONDS = (\d+)$/m.exec(helper)?.[1]).toBe(String(GATE_TTL_SECONDS));
    // Every path enters scripts inside double quotes as it is: nothing a shell expands.
    for (const [name, path] of Object.entries(STACK_PATHS)) expect(path, name).toMatch(/^[A-Za-z0-9._/-]+$/);
  });

  it("GIVEN the local runner WHEN its layout constants are read THEN they are the state module's, and it spells no other path of hpcdk's", () => {
    const runner = readFileSync(join(LIB, 'targets/local-runner.sh'), 'utf8');
    const constant = (name: string) => new RegExp(`^${name}='([^']*)'$`, 'm').exec(runner)?.[1];
    for (const name of ['LOCAL_JOBS_DIR', 'EXITS_DIR'] as const) expect(constant(name), name).toBe(STACK_PATHS[name]);
    const spelled = runner.split('\n').filter((line) => line.includes('.hpcdk') && !/^[A-Z_]+='/.test(line));
    expect(spelled).toEqual([]);
  });
});

describe('the on-target state module writes bash that shellcheck accepts', () => {
  const opening = 'D="$HOME/.hpcdk-stacks/demo"\n';
  it.each([
    ['the lock, taken and released', takeLockLines('apply')],
    ['force-unlock', FORCE_UNLOCK],
    ['reading the lock owner', READ_LOCK_OWNER],
    ['the journal writer', JOURNAL_FUNCTION],
    ['the serial check', `${READ_SERIAL}\n${serialCheckLines(3)}`],
    [
      'reading a log',
      readLogScript({
        stackDir: '/home/ada/hpcdk/demo',
        address: 'train',
        jobName: 'demo-train',
        pattern: 'logs/train/%x-%j.out',
      }),
    ],
  ])('%s', (_name, script) => {
    expect(lintScript(`${opening}${script}\n`)).toBe('');
  });
});
