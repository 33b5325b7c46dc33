import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockedError, StalePlanError } from '../../lib/apply/apply.js';
import { DirtyBundleError } from '../../lib/apply/payloads.js';
import { MissingSecretError } from '../../lib/apply/secrets.js';
import { main } from '../../lib/cli/main.js';
import { CliError } from '../../lib/cli/output.js';
import { HpcdkError } from '../../lib/core/hpcdk-error.js';
import { ValidationError } from '../../lib/core/validation.js';
import { StackLoadError } from '../../lib/loader/load-stacks.js';
import { ScriptRefusedError } from '../../lib/plan/plan-stack.js';
import { AutomationRefusedError } from '../../lib/targets/automation/commands.js';

describe('HpcdkError', () => {
  it('GIVEN each error hpcdk raises on purpose WHEN checked THEN it is an HpcdkError with its own name and exit code 1', () => {
    const errors = [
      new CliError('x'),
      new ValidationError([{ path: 'app/s/j', field: 'time', message: 'bad' }]),
      new StackLoadError('x', 'stacks/a.ts', undefined),
      new ScriptRefusedError([{ construct: 'app/s/j', path: 'jobs/j.sbatch', message: 'no' }]),
      new AutomationRefusedError('x'),
      new MissingSecretError(['TOKEN'], ['app/s/j']),
      new DirtyBundleError('app/s/code', ['a.py']),
      new LockedError('ada@laptop op=apply host=h pid=1 since=1'),
      new StalePlanError(),
    ];
    for (const e of errors) {
      expect(HpcdkError.isHpcdkError(e), e.constructor.name).toBe(true);
      expect(e.name).toBe(e.constructor.name);
      expect(e.exitCode).toBe(1);
    }
    expect(new CliError('x', 2).exitCode).toBe(2);
  });

  it('GIVEN an error from another copy of the library, and a plain Error WHEN checked THEN only the first is one', () => {
    const otherCopy = Object.assign(new Error('from a second copy'), {
      [Symbol.for('hpcdk.HpcdkError')]: true,
      exitCode: 1,
    });
    expect(HpcdkError.isHpcdkError(otherCopy)).toBe(true);
    expect(HpcdkError.isHpcdkError(new Error('a fault'))).toBe(false);
    expect(HpcdkError.isHpcdkError('a string')).toBe(false);
  });

  it('GIVEN a stack file that does not compile WHEN the CLI reports it THEN it prints the message, says nothing was written, and shows no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcdk-error-'));
    try {
      mkdirSync(join(dir, 'stacks'));
      writeFileSync(join(dir, 'stacks/bad.ts'), 'this is not ) typescript\n');
      const lines: string[] = [];
      const write = process.stderr.write;
      process.stderr.write = ((text: string) => {
        lines.push(String(text));
        return true;
      }) as typeof process.stderr.write;
      let code: number;
      try {
        code = await main(['node', 'hpcdk', '--no-color', '--dir', dir, 'synth']);
      } finally {
        process.stderr.write = write;
      }
      expect(code).toBe(1);
      const stderr = lines.join('');
      expect(stderr).toMatch(/^Error: .*stacks\/bad\.ts/);
      expect(stderr).toMatch(/\nNothing was written\.\n$/);
      expect(stderr).not.toContain('    at ');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
