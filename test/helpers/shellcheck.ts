import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs `bash -n` and shellcheck on a script; returns their complaints ('' when clean). */
export function lintScript(script: string, name = 'script.sh'): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-lint-'));
  try {
    const file = join(dir, name);
    writeFileSync(file, script);
    const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    if (syntax.status !== 0) return `bash -n: ${syntax.stderr}`;
    const check = spawnSync('shellcheck', ['--shell=bash', '--severity=style', file], { encoding: 'utf8' });
    if (check.error) throw new Error(`shellcheck is not installed: ${check.error.message}`);
    return check.status === 0 ? '' : check.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** True when shellcheck can run here (CI installs it; .ci/run fails without it). */
export function hasShellcheck(): boolean {
  try {
    execFileSync('shellcheck', ['--version']);
    return true;
  } catch {
    return false;
  }
}
