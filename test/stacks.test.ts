import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, hpcdk, readTree } from './helpers/project.js';
import { lintScript } from './helpers/shellcheck.js';

/** The example stacks in stacks/, modelled on the user guides hpcdk serves. */
describe("the repository's stacks", () => {
  it('have committed snapshots that match a fresh synth', async () => {
    const r = await hpcdk(REPO, ['synth', '--check']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it('render only scripts that pass bash -n and shellcheck', () => {
    const tree = readTree(join(REPO, 'snapshots'));
    const scripts = [...tree.keys()]
      .filter((p) => p.endsWith('manifest.json'))
      .flatMap((manifestPath) => {
        const manifest = JSON.parse(readFileSync(join(REPO, 'snapshots', manifestPath), 'utf8')) as {
          artifacts: Array<{ path: string; kind: string }>;
        };
        const folder = manifestPath.slice(0, -'manifest.json'.length);
        return manifest.artifacts
          .filter((a) => a.kind === 'script' || a.kind === 'sbatch')
          .map((a) => `${folder}${a.path}`);
      });
    expect(scripts.length).toBeGreaterThan(3);
    for (const path of scripts) {
      expect(lintScript(readFileSync(join(REPO, 'snapshots', path), 'utf8'), path.split('/').pop()), path).toBe('');
    }
  });

  it('list every stack with its targets', async () => {
    const r = await hpcdk(REPO, ['ls']);
    expect(r.stdout).toContain('hello\tlocal\n');
    expect(r.stdout).toContain('rsm\ttier1-l4,tier2-a100\n');
  });
});
