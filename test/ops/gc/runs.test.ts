import { describe, expect, it } from 'vitest';
import { decideGc } from '../../../lib/ops/gc/decide.js';
import { attributeLogs, journalEvents, retainRuns, type Run } from '../../../lib/ops/gc/runs.js';
import { patternRegex } from '../../../lib/state/log-names.js';
import { foldJournal } from '../../../lib/state/journal.js';
import { entry, jobLine, resource, stackInventory, synthStack, targetInventory } from './fixtures.js';

const manifest = synthStack(1);
const evalId = resource(manifest, 'eval', 'job').identity;
const evalName = resource(manifest, 'eval', 'job').spec.jobName;

/** Three runs of `eval` (jobs 10, 20, 30, the oldest first), each with its .out, .err and a run.json. */
function threeRuns() {
  const journal = [
    jobLine('eval', evalId, '10', 3),
    jobLine('eval', evalId, '20', 2),
    jobLine('eval', evalId, '30', 1),
  ].join('\n');
  const logs = ['10', '20', '30'].flatMap((id, i) => [
    entry(`logs/eval/${evalName}-${id}.out`, 3 - i),
    entry(`logs/eval/${evalName}-${id}.err`, 3 - i),
    entry(`logs/eval/${id}.run.json`, 3 - i),
  ]);
  return { journal, logs };
}

describe('runs: which files belong to which run', () => {
  it('GIVEN the default output pattern WHEN read as a regex THEN the job id comes back, also for a job name with digits', () => {
    const re = patternRegex('logs/eval/%x-%j.out', 'run-2')!;
    expect(re.exec('logs/eval/run-2-1234.out')?.groups?.j).toBe('1234');
    expect(re.exec('logs/eval/run-3-1234.out')).toBeNull();
    expect(patternRegex('logs/grid/%x-%A_%a.out', 'g')!.exec('logs/grid/g-77_3.out')?.groups?.A).toBe('77');
    expect(patternRegex('/scratch/out.txt', 'g')).toBeUndefined();
  });

  it('GIVEN three runs WHEN attributed THEN every file of a job id is one run, a run.json included', () => {
    const { journal, logs } = threeRuns();
    const { runs } = attributeLogs(logs, journalEvents(journal), new Map(), manifest.resources);
    expect(runs.map((r) => [r.group, r.id, r.files.length]).sort()).toEqual([
      ['eval', '10', 3],
      ['eval', '20', 3],
      ['eval', '30', 3],
    ]);
  });

  it("GIVEN a sweep's array tasks WHEN attributed THEN each array is one run of the sweep, whatever its task numbers", () => {
    const point = manifest.resources.find((r) => r.kind === 'sweep-point')!;
    const journal = [
      `chunk grid chunk-abc ${point.address} ${point.identity} 0`,
      jobLine(point.address, point.identity, '3_0', 2),
      jobLine(point.address, point.identity, '5_0', 1),
    ].join('\n');
    const logs = [
      entry('logs/grid/rsm.grid-3_0.out', 2),
      entry('logs/grid/3_1.run.json', 2),
      entry('logs/grid/rsm.grid-5_0.out', 1),
      entry('logs/grid/5_3.run.json', 1),
    ];
    const { runs } = attributeLogs(logs, journalEvents(journal), foldJournal(journal).chunks, manifest.resources);
    expect(runs.map((r) => [r.group, r.id, r.files.map((f) => f.path)]).sort()).toEqual([
      ['grid', '3', ['logs/grid/3_1.run.json', 'logs/grid/rsm.grid-3_0.out']],
      ['grid', '5', ['logs/grid/5_3.run.json', 'logs/grid/rsm.grid-5_0.out']],
    ]);
  });
});

describe('runs: retention', () => {
  const run = (id: string, epoch?: number): Run => ({
    group: 'eval',
    id,
    files: [entry(`logs/eval/x-${id}.out`, 1)],
    ...(epoch !== undefined ? { epoch } : {}),
  });

  it('GIVEN five finished runs WHEN keeping 2 THEN the two newest stay and the three oldest go', () => {
    const runs = [run('1', 100), run('5', 500), run('3', 300), run('2', 200), run('4', 400)];
    const decided = retainRuns(runs, 2, new Set());
    expect(decided.filter((d) => !d.remove).map((d) => d.run.id)).toEqual(['5', '4']);
    expect(decided.filter((d) => d.remove).map((d) => d.run.id)).toEqual(['3', '2', '1']);
  });

  it('GIVEN the oldest run is still running WHEN keeping 0 THEN it stays, and the finished ones go', () => {
    const decided = retainRuns([run('1', 100), run('2', 200)], 0, new Set(['1']));
    expect(decided.map((d) => [d.run.id, d.remove])).toEqual([
      ['2', true],
      ['1', false],
    ]);
    expect(decided.find((d) => d.run.id === '1')?.reason).toBe('the job is pending or running');
  });

  it('GIVEN a run the journal never recorded WHEN beyond the retention THEN it is kept (whether it finished is unknown)', () => {
    const decided = retainRuns([run('1'), run('2', 200)], 1, new Set());
    expect(decided.find((d) => d.run.id === '1')).toMatchObject({ remove: false });
  });

  it('GIVEN three runs of a job and --keep-runs 1 WHEN gc decides THEN only the newest run keeps its logs', () => {
    const { journal, logs } = threeRuns();
    const plan = decideGc(targetInventory([stackInventory({ journal, logs })]), {
      current: new Map([['rsm', manifest]]),
      projectStacks: new Set(['rsm']),
      keepRuns: 1,
    });
    const runs = plan.items.filter((i) => i.kind === 'run');
    expect(runs.map((i) => [i.what, i.remove, i.files])).toEqual([
      ['30', false, 3],
      ['20', true, 3],
      ['10', true, 3],
    ]);
    expect(runs[1]!.steps).toEqual(
      logs
        .filter((l) => l.path.includes('20'))
        .map((l) => ({ op: 'rm', path: l.path }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
  });

  it('GIVEN no --keep-runs WHEN gc decides THEN no run is a candidate', () => {
    const { journal, logs } = threeRuns();
    const plan = decideGc(targetInventory([stackInventory({ journal, logs })]), {
      current: new Map([['rsm', manifest]]),
      projectStacks: new Set(['rsm']),
    });
    expect(plan.items.filter((i) => i.kind === 'run')).toEqual([]);
  });
});
