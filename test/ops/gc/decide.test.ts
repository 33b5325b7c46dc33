import { describe, expect, it } from 'vitest';
import { decideGc, listImages, type GcContext, type GcItem } from '../../../lib/ops/gc/decide.js';
import {
  built,
  builtLine,
  contentIdOf,
  DAY,
  entry,
  imageOf,
  jobLine,
  NOW,
  podmanImage,
  resource,
  stackInventory,
  synthStack,
  tagOf,
  targetInventory,
} from './fixtures.js';

const v1 = synthStack(1);
const v2 = synthStack(2);
const oldRef = imageOf(v1);
const newRef = imageOf(v2);

function context(extra: Partial<GcContext> = {}): GcContext {
  return { current: new Map([['rsm', v2]]), projectStacks: new Set(['rsm']), ...extra };
}

/** Both versions built, v1 ten days ago, v2 an hour ago; v2 is the current synth. */
function twoBuilds(journal = '') {
  const a = built(tagOf(v1), 10);
  const b = built(tagOf(v2), 1 / 24);
  return stackInventory({
    journal: [
      builtLine('image', resource(v1, 'image', 'container-image').identity, 10),
      builtLine('image', resource(v2, 'image', 'container-image').identity, 1 / 24),
      journal,
    ].join('\n'),
    images: [...a.images, ...b.images],
    records: new Map([...a.records, ...b.records]),
    packageLocks: new Map([['image', `built-with: podman build from Dockerfile\nimage: ${newRef}\n`]]),
  });
}
const podman = [podmanImage(oldRef, 'image', 10), podmanImage(newRef, 'image', 1 / 24)];

const images = (items: readonly GcItem[]) => items.filter((i) => i.kind === 'image');

describe('gc: images', () => {
  it('GIVEN two built versions of an image WHEN deciding THEN the old one is removed (podman image first, its record last) and the current one is kept', () => {
    const plan = decideGc(targetInventory([twoBuilds()], podman), context());
    const [old, current] = [
      images(plan.items).find((i) => i.what.startsWith(oldRef))!,
      images(plan.items).find((i) => i.what.startsWith(newRef))!,
    ];
    expect(old).toMatchObject({ remove: true, reason: 'no stack references it', address: 'image', age: 10 * DAY });
    expect(old.steps).toEqual([
      { op: 'rmi', ref: oldRef, args: ['--storage-driver', 'vfs'] },
      { op: 'rm', path: `images/image/${tagOf(v1)}.built-with` },
    ]);
    expect(current).toMatchObject({ remove: false, reason: 'the stack uses it' });
  });

  it('GIVEN an image the stack folder has no record of WHEN deciding THEN it is kept, whatever its labels say', () => {
    const inv = stackInventory({ ...built(tagOf(v2), 1), records: new Map(built(tagOf(v2), 1).records) });
    const stranger = podmanImage(`${oldRef.split(':')[0]}:h${'0'.repeat(16)}`, 'image', 30);
    const plan = decideGc(targetInventory([inv], [stranger, podmanImage(newRef, 'image', 1)]), context());
    expect(images(plan.items).find((i) => i.what === stranger.names[0])).toMatchObject({ remove: false });
    expect(plan.items.filter((i) => i.remove)).toEqual([]);
  });

  it('GIVEN a job of the earlier version still running WHEN deciding THEN the image it may run in is kept, and so is its code bundle', () => {
    const inv = {
      ...twoBuilds(jobLine('train', resource(v1, 'train', 'job').identity, '41', 2)),
      jobs: [{ id: '41', state: 'RUNNING', address: 'train', identity: resource(v1, 'train', 'job').identity }],
      bundles: [entry(`bundles/code/${contentIdOf(v2)}`, 1), entry('bundles/code/0123456789abcdef', 9)],
    };
    const plan = decideGc(targetInventory([inv], podman), context());
    expect(images(plan.items).find((i) => i.what.startsWith(oldRef))).toMatchObject({
      remove: false,
      reason: 'job 41, of an earlier version, is pending or running and may use it',
    });
    expect(plan.items.find((i) => i.what === 'bundles/code/0123456789abcdef')).toMatchObject({ remove: false });
  });

  it('GIVEN a running job at the current version WHEN deciding THEN earlier versions are not held for it', () => {
    const inv = {
      ...twoBuilds(),
      jobs: [{ id: '42', state: 'RUNNING', address: 'train', identity: resource(v2, 'train', 'job').identity }],
    };
    const plan = decideGc(targetInventory([inv], podman), context());
    expect(images(plan.items).find((i) => i.what.startsWith(oldRef))).toMatchObject({ remove: true });
  });

  it('GIVEN a running job whose version cannot be told, or a scheduler that did not answer, WHEN deciding THEN no image, bundle, params file or log a job may use is removed', () => {
    const withUnknown = {
      ...twoBuilds(),
      jobs: [{ id: '43', state: 'PENDING' }],
      params: [entry('params/grid/0123456789abcdef.sh', 3)],
    };
    const silent = { ...twoBuilds(), params: [entry('params/grid/0123456789abcdef.sh', 3)] };
    for (const inventory of [
      targetInventory([withUnknown], podman),
      targetInventory([silent], podman, { schedulerOk: false }),
    ]) {
      const plan = decideGc(inventory, context({ keepRuns: 0 }));
      expect(plan.items.filter((i) => i.remove)).toEqual([]);
      expect(plan.items.find((i) => i.kind === 'params')?.remove).toBe(false);
    }
  });

  it('GIVEN a .sif built through podman WHEN its tag is old THEN the image, the .sif and then the record go, and the sha256 is listed as its digest', () => {
    const b = built(tagOf(v1), 5, 'apptainer');
    const sif = entry(`images/image/${tagOf(v1)}.sif`, 5, 3_000_000);
    const inv = stackInventory({
      images: [...b.images, sif],
      records: new Map(b.records),
      sifSha256: new Map([[sif.path, 'e'.repeat(64)]]),
    });
    const plan = decideGc(targetInventory([inv], [podmanImage(oldRef, 'image', 5)]), context());
    expect(images(plan.items)[0]!.steps.map((s) => s.op)).toEqual(['rmi', 'rm', 'rm']);
    expect(images(plan.items)[0]!.steps.at(-1)).toEqual({ op: 'rm', path: `images/image/${tagOf(v1)}.built-with` });
    const rows = listImages(targetInventory([inv], [podmanImage(oldRef, 'image', 5)]), context());
    expect(rows.find((r) => r.kind === 'sif')).toMatchObject({
      image: sif.path,
      digest: `sha256:${'e'.repeat(64)}`,
      referenced: false,
      recorded: true,
    });
  });

  it('GIVEN an untagged labelled image WHEN old enough THEN it is removed by id; WHEN made minutes ago THEN it is kept (a build may be tagging it)', () => {
    const old = podmanImage(undefined, 'image', 2);
    const fresh = { ...podmanImage(undefined, 'image', 0), id: 'f'.repeat(64), created: NOW - 60 };
    const plan = decideGc(targetInventory([stackInventory()], [old, fresh]), context());
    const untagged = plan.items.filter((i) => i.kind === 'untagged-image');
    expect(untagged.find((i) => i.remove)?.steps).toEqual([{ op: 'rmi', ref: old.id, args: old.args }]);
    expect(untagged.find((i) => !i.remove)?.what).toBe(fresh.id.slice(0, 12));
  });
});

describe('images: the listing', () => {
  it('GIVEN two versions and an unlabelled build WHEN listed THEN each row says whether a stack references it and whether it is labelled and recorded', () => {
    const unlabelled = podmanImage(oldRef, 'image', 10, false);
    const rows = listImages(
      targetInventory([twoBuilds()], [unlabelled, podmanImage(newRef, 'image', 1 / 24)]),
      context(),
    );
    expect(rows.map((r) => [r.image, r.referenced, r.labelled, r.recorded, r.status])).toEqual([
      [oldRef, false, false, true, 'unreferenced, unlabelled'],
      [newRef, true, true, true, 'in use'],
    ]);
    expect(rows[0]!.identity).toBe(resource(v1, 'image', 'container-image').identity.slice(0, 12));
    expect(rows[1]!.identity).toBe(resource(v2, 'image', 'container-image').identity.slice(0, 12));
  });

  it('GIVEN labelled images of a stack the project lacks WHEN listed THEN they appear as not in state and not in the project', () => {
    const other = podmanImage('localhost/hpcdk-old-image:h0000000000000001', 'image', 40, true, 'old');
    const rows = listImages(targetInventory([], [other]), context());
    expect(rows).toEqual([
      expect.objectContaining({
        stack: 'old',
        inProject: false,
        recorded: false,
        status: 'no such stack in the project, not in state',
      }),
    ]);
  });
});

describe('gc: code bundles, params files, deployed files', () => {
  it('GIVEN bundle folders of two commits and an interrupted unpack WHEN deciding THEN the current one stays and the others go, renamed aside first', () => {
    const inv = stackInventory({
      bundles: [
        entry(`bundles/code/${contentIdOf(v2)}`, 1),
        entry('bundles/code/0123456789abcdef', 9),
        entry('bundles/code/fedcba9876543210.partial', 2),
      ],
    });
    const items = decideGc(targetInventory([inv]), context()).items.filter((i) => i.kind === 'bundle');
    expect(items.map((i) => [i.what, i.remove])).toEqual([
      [`bundles/code/${contentIdOf(v2)}`, false],
      ['bundles/code/0123456789abcdef', true],
      ['bundles/code/fedcba9876543210.partial', true],
    ]);
    expect(items[1]!.steps).toEqual([{ op: 'rmtree', path: 'bundles/code/0123456789abcdef' }]);
  });

  it("GIVEN params files of two chunks WHEN one chunk still runs THEN only the finished chunk's file is removed", () => {
    const running = 'aaaaaaaaaaaaaaaa';
    const done = 'bbbbbbbbbbbbbbbb';
    const inv = stackInventory({
      params: [entry(`params/grid/${running}.sh`, 1), entry(`params/grid/${done}.sh`, 4)],
      jobs: [{ id: '7_1', state: 'RUNNING', address: 'grid', identity: `chunk-${running}${'0'.repeat(48)}` }],
    });
    const items = decideGc(targetInventory([inv]), context()).items.filter((i) => i.kind === 'params');
    expect(items.map((i) => [i.what, i.remove, i.reason])).toEqual([
      [`params/grid/${running}.sh`, false, 'job 7_1 is pending or running and reads it'],
      [`params/grid/${done}.sh`, true, 'its jobs have all finished'],
    ]);
  });

  it('GIVEN a deployed file no current resource has WHEN deciding THEN it is removed through the journal (rmfile); files of the manifest are never candidates', () => {
    const manifestFile = v2.artifacts[0]!.path;
    const journal = [
      `file ${manifestFile} ${'1'.repeat(64)} ${NOW}`,
      `file old/job.sbatch ${'2'.repeat(64)} ${NOW}`,
    ].join('\n');
    const inv = stackInventory({
      journal,
      files: [entry(`files/${manifestFile}`, 1), entry('files/old/job.sbatch', 3)],
    });
    const files = decideGc(targetInventory([inv]), context()).items.filter((i) => i.kind === 'file');
    expect(files.map((i) => [i.what, i.remove, i.steps])).toEqual([
      ['files/old/job.sbatch', true, [{ op: 'rmfile', path: 'old/job.sbatch' }]],
    ]);
  });

  it("GIVEN a build log of a resource that left the stack WHEN deciding THEN it goes; the current image's build log stays", () => {
    const inv = stackInventory({
      journal: [
        builtLine('image', resource(v2, 'image', 'container-image').identity, 1),
        builtLine('oldenv', 'x'.repeat(64), 20),
      ].join('\n'),
      logs: [entry('logs/image/build.log', 1), entry('logs/oldenv/build.log', 20)],
    });
    const logs = decideGc(targetInventory([inv]), context()).items.filter((i) => i.kind === 'build-log');
    expect(logs.map((i) => [i.what, i.remove])).toEqual([['logs/oldenv/build.log', true]]);
  });
});

describe('gc: stack folders the project does not have', () => {
  const orphan = stackInventory({
    name: 'old',
    ...built('h1111111111111111', 30),
    records: new Map([['images/image/h1111111111111111.built-with', 'podman']]),
    logs: [entry('logs/x/a.out', 30, 5000)],
  });
  const orphanImage = podmanImage('localhost/hpcdk-old-image:h1111111111111111', 'image', 30, true, 'old');

  it('GIVEN a stack folder not in the project WHEN not named THEN it is listed and left alone', () => {
    const plan = decideGc(targetInventory([orphan], [orphanImage]), context());
    expect(plan.items).toEqual([
      expect.objectContaining({
        kind: 'stack',
        what: 'old',
        remove: false,
        reason: expect.stringContaining('--orphans'),
      }),
    ]);
  });

  it('GIVEN it is named with --orphans WHEN deciding THEN its images go first, then the whole folder', () => {
    const plan = decideGc(targetInventory([orphan], [orphanImage]), context({ orphans: new Set(['old']) }));
    expect(plan.items[0]).toMatchObject({ kind: 'stack', remove: true });
    expect(plan.items[0]!.steps).toEqual([
      { op: 'rmi', ref: orphanImage.names[0], args: orphanImage.args },
      { op: 'rmstack' },
    ]);
  });

  it('GIVEN it is named but one of its jobs still runs WHEN deciding THEN it is kept', () => {
    const busy = { ...orphan, jobs: [{ id: '9', state: 'RUNNING', address: 'x', identity: 'y' }] };
    const plan = decideGc(targetInventory([busy], [orphanImage]), context({ orphans: new Set(['old']) }));
    expect(plan.items[0]).toMatchObject({ remove: false, reason: 'job 9 is pending or running' });
  });
});
