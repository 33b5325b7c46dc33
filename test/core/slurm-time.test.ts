import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SLURM_TIME, timeToMinutes } from '../../lib/core/allocation.js';
import { Job, Testing } from '../../lib/index.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** A duration in seconds written in each of SLURM's six forms that can hold it exactly. */
function forms(total: number): Array<[string, string]> {
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const out: Array<[string, string]> = [
    ['M:S', `${Math.floor(total / 60)}:${pad(s)}`],
    ['H:M:S', `${Math.floor(total / 3600)}:${pad(m)}:${pad(s)}`],
    ['D-H:M:S', `${d}-${pad(h)}:${pad(m)}:${pad(s)}`],
  ];
  if (s === 0) out.push(['M', `${total / 60}`], ['D-H:M', `${d}-${pad(h)}:${pad(m)}`]);
  if (s === 0 && m === 0) out.push(['D-H', `${d}-${h}`]);
  return out;
}

const durations = fc.integer({ min: 0, max: 30 * 86400 });
/** Durations that fall on whole minutes and whole hours too, so the short forms are drawn often. */
const roundDurations = fc.oneof(
  durations,
  durations.map((t) => t - (t % 60)),
  durations.map((t) => t - (t % 3600)),
);

describe("SLURM's time forms", () => {
  it('GIVEN any duration WHEN written in each form SLURM accepts THEN the form validates and parses to its minutes, seconds rounded up', () => {
    fc.assert(
      fc.property(roundDurations, (total) => {
        for (const [form, text] of forms(total)) {
          expect(SLURM_TIME.test(text), `${form} ${text}`).toBe(true);
          expect(timeToMinutes(text), `${form} ${text}`).toBe(Math.ceil(total / 60));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('GIVEN two durations WHEN compared in any two forms THEN their order is the order of the durations, to the minute', () => {
    fc.assert(
      fc.property(roundDurations, roundDurations, (a, b) => {
        for (const [, x] of forms(a))
          for (const [, y] of forms(b))
            expect(Math.sign(timeToMinutes(x) - timeToMinutes(y))).toBe(
              Math.sign(Math.ceil(a / 60) - Math.ceil(b / 60)),
            );
      }),
      { numRuns: 300 },
    );
  });

  it('GIVEN a time in any form WHEN a job asks for it THEN the script says it exactly as written', () => {
    fc.assert(
      fc.property(roundDurations, (total) => {
        for (const [, text] of forms(total)) {
          const stack = Testing.stack();
          new Job(stack, 'job', { allocation: { time: text }, run: ['true'] });
          expect(Testing.synth(stack).file('job/job.sbatch')).toContain(`#SBATCH --time=${text}\n`);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('GIVEN text that is no SLURM time WHEN validated THEN it is refused', () => {
    for (const text of ['', 'two hours', '1:2:3:4', '1-', '-5', '1-2-3', '10:5x', '1.5'])
      expect(SLURM_TIME.test(text), text).toBe(false);
  });

  it('GIVEN a time in any form WHEN the local runner reads it from a script THEN it enforces the same duration, to the second', () => {
    const runner = readFileSync(join(import.meta.dirname, '../../lib/targets/local-runner.sh'), 'utf8');
    const fn = /^time_limit\(\) \{\n[\s\S]*?\n\}\n/m.exec(runner)?.[0];
    expect(fn).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'hpcdk-time-'));
    try {
      const cases = fc.sample(roundDurations, 40).flatMap((total) => forms(total).map(([, text]) => ({ total, text })));
      cases.push({ total: 0, text: 'UNLIMITED' });
      writeFileSync(
        join(dir, 'check.sh'),
        `${fn}\nfor t in "$@"; do mkdir -p "$Q"; printf '#!/bin/bash\\n#SBATCH --time=%s\\n' "$t" > "$Q/script"; time_limit; done\n`,
      );
      const out = execFileSync('bash', [join(dir, 'check.sh'), ...cases.map((c) => c.text)], {
        env: { ...process.env, Q: join(dir, 'q') },
        encoding: 'utf8',
      });
      expect(out.trim().split('\n').map(Number)).toEqual(cases.map((c) => c.total));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
