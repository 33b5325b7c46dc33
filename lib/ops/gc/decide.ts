/**
 * What `hpcdk images` lists and what `hpcdk gc` removes, decided from a
 * target's inventory and the current synth of the project's stacks. Pure:
 * no I/O, so every rule is tested on its own.
 *
 * The rules: nothing a current stack uses is removed (images at a current
 * image resource's tag, the current code bundle, files of the manifest);
 * nothing a pending or running job may use is removed (its logs, its params
 * file, and every earlier version of what it depends on when it runs an
 * earlier version of itself); anything not recorded in the stack folder's
 * own state is left alone, since another deployment may use it.
 */
import type { ManifestResource } from '../../core/output.js';
import { describeLockOwner } from '../../state/lock.js';
import { foldJournal } from '../../state/journal.js';
import type { Manifest } from '../../synth/manifest.js';
import { isActive } from '../../targets/scheduler.js';
import { TRASH_PREFIX, type Entry, type PodmanImage, type StackInventory, type TargetInventory } from './inventory.js';
import { attributeLogs, journalEvents, retainRuns, runIdOf, type JournalEvent } from './runs.js';
import { ResourceKind, buildOf } from '../../core/resource-spec.js';
import { IMAGES_DIR } from '../../state/layout.js';

/** One step of a removal, carried out in order on the target; the first that fails stops the item. */
export type RemovalStep =
  /** Untag (and, once untagged, delete) an image in podman's storage. */
  | { readonly op: 'rmi'; readonly ref: string; readonly args: readonly string[] }
  /** A file, relative to the stack folder. */
  | { readonly op: 'rm'; readonly path: string }
  /** A folder, relative to the stack folder: renamed aside first, so it is never half there under its own name. */
  | { readonly op: 'rmtree'; readonly path: string }
  /** A deployed file, relative to `files/`: journaled as removed first, then deleted. */
  | { readonly op: 'rmfile'; readonly path: string }
  /** The whole stack folder (a stack the project no longer has). */
  | { readonly op: 'rmstack' }
  /** A folder a killed gc left under the base path. */
  | { readonly op: 'rmtrash'; readonly name: string };

export type ItemKind =
  | 'image'
  | 'untagged-image'
  | 'bundle'
  | 'params'
  | 'run'
  | 'build-log'
  | 'file'
  | 'leftover'
  | 'stack';

export interface GcItem {
  /** The stack folder; empty for leftovers under the base path. */
  readonly stack: string;
  readonly kind: ItemKind;
  readonly address?: string;
  /** What it is: an image reference, a path, a job id. */
  readonly what: string;
  /** How many files it holds, where that says more than its size (runs). */
  readonly files?: number;
  readonly size: number;
  /** Seconds since it was made or last written. */
  readonly age: number;
  readonly remove: boolean;
  readonly reason: string;
  readonly steps: readonly RemovalStep[];
}

export interface GcPlan {
  readonly items: readonly GcItem[];
  /** Per stack folder: its journal serial when read (removal refuses if it changed) and notes for the person. */
  readonly stacks: ReadonlyArray<{
    readonly stack: string;
    readonly serial: number;
    readonly notes: readonly string[];
  }>;
}

/** What is known of the project when deciding. */
export interface GcContext {
  /** The project's stacks examined on this target, with their current synth. */
  readonly current: ReadonlyMap<string, Manifest>;
  /** Every stack name the project has. */
  readonly projectStacks: ReadonlySet<string>;
  /** Selected project stacks that have a folder here but could not be examined, with why. */
  readonly unexamined?: ReadonlyMap<string, string>;
  /** Stack folders without a stack in the project that the person named for removal. */
  readonly orphans?: ReadonlySet<string>;
  /** Only these stack folders are reported (undefined: all). */
  readonly only?: ReadonlySet<string>;
  /** Keep each job's newest N runs; undefined leaves logs alone. */
  readonly keepRuns?: number;
}

/** An untagged image younger than this may be a build that has not tagged its result yet. */
const UNTAGGED_MIN_AGE_SECONDS = 600;

const LABEL_STACK = 'hpcdk.stack';
const LABEL_ADDRESS = 'hpcdk.address';

/** `localhost/hpcdk-x:h0123` → [`localhost/hpcdk-x`, `h0123`]. */
function splitRef(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
}

const isHpcdkImage = (image: PodmanImage) => image.labels.created_by === 'hpcdk';

/** What a built tag of one image resource left: its record, its .sif, podman's image, files of interrupted builds. */
export interface BuiltTag {
  readonly address: string;
  readonly tag: string;
  readonly record?: Entry & { readonly runner: string };
  readonly sif?: Entry & { readonly sha256?: string };
  readonly leftovers: readonly Entry[];
  readonly image?: PodmanImage & { readonly ref: string };
}

const BUILT_FILE = /^images\/(.+)\/([^/.]+)\.(built-with|sif|sif\.tmp|sif\.tar|built-with\.tmp)$/;

/**
 * The built tags of a stack folder, joined with podman's images: an image
 * belongs to a tag when it carries the stack's and address's labels, or
 * (unlabelled) when it has the name the stack gives that image.
 */
export function builtTags(
  inv: StackInventory,
  manifest: Manifest | undefined,
  podman: readonly PodmanImage[],
): BuiltTag[] {
  const tags = new Map<
    string,
    {
      address: string;
      tag: string;
      record?: Entry & { runner: string };
      sif?: Entry & { sha256?: string };
      leftovers: Entry[];
    }
  >();
  for (const e of inv.images) {
    const m = BUILT_FILE.exec(e.path);
    if (!m) continue;
    const [, address = '', tag = '', ext = ''] = m;
    const t = tags.get(`${address}\0${tag}`) ?? { address, tag, leftovers: [] };
    if (ext === 'built-with') t.record = { ...e, runner: inv.records.get(e.path) ?? '' };
    else if (ext === 'sif')
      t.sif = { ...e, ...(inv.sifSha256.has(e.path) ? { sha256: inv.sifSha256.get(e.path)! } : {}) };
    else t.leftovers.push(e);
    tags.set(`${address}\0${tag}`, t);
  }
  const repos = knownRepos(inv, manifest);
  const out: BuiltTag[] = [];
  const matched = new Set<string>();
  for (const t of tags.values()) {
    const image = podman
      .flatMap((p) => p.names.map((ref) => ({ ...p, ref })))
      .find((p) => {
        const [repo, tag] = splitRef(p.ref);
        if (tag !== t.tag) return false;
        const labelled = p.labels[LABEL_STACK] === inv.name && p.labels[LABEL_ADDRESS] === t.address;
        return labelled || (!isHpcdkImage(p) && repos.get(t.address)?.has(repo) === true);
      });
    if (image) matched.add(image.ref);
    out.push({ ...t, ...(image ? { image } : {}) });
  }
  // Labelled images of this stack that its folder has no record of.
  for (const p of podman) {
    if (!isHpcdkImage(p) || p.labels[LABEL_STACK] !== inv.name) continue;
    for (const ref of p.names) {
      if (matched.has(ref)) continue;
      out.push({ address: p.labels[LABEL_ADDRESS] ?? '', tag: splitRef(ref)[1], leftovers: [], image: { ...p, ref } });
    }
  }
  return out.sort((a, b) => (a.address === b.address ? (a.tag < b.tag ? -1 : 1) : a.address < b.address ? -1 : 1));
}

/** The image names (without tag) the stack gives each image address: from the current synth and from the locks of earlier builds. */
function knownRepos(inv: StackInventory, manifest: Manifest | undefined): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (address: string, ref: string) => out.set(address, (out.get(address) ?? new Set()).add(splitRef(ref)[0]));
  for (const r of manifest?.resources ?? []) if (r.kind === ResourceKind.containerImage) add(r.address, r.spec.image);
  for (const [address, lock] of inv.packageLocks) {
    const m = /^image: (\S+)$/m.exec(lock);
    if (m) add(address, m[1]!);
  }
  return out;
}

/** The current image resource's tag at `address`, if the stack has one there. */
function currentTag(manifest: Manifest | undefined, address: string): string | undefined {
  const r = manifest?.resources.find((x) => x.address === address);
  return r?.kind === ResourceKind.containerImage ? r.spec.tag : undefined;
}

/** The identity a tag was built at: the first `built` line for its address written after its record. */
function builtIdentity(events: readonly JournalEvent[], t: BuiltTag): string | undefined {
  if (!t.record) return undefined;
  return events.find((e) => e.kind === 'built' && e.address === t.address && e.epoch >= t.record!.mtime - 1)?.identity;
}

export interface ImageRow {
  readonly stack: string;
  readonly address?: string;
  readonly kind: 'podman' | 'sif';
  /** `name:tag`, the `.sif` path below the stack folder, or the id of an untagged image. */
  readonly image: string;
  readonly tag?: string;
  /** The identity it was built at, short. */
  readonly identity?: string;
  /** The image's digest, or `sha256:<hash>` of the .sif. */
  readonly digest?: string;
  readonly id?: string;
  readonly size: number;
  readonly age: number;
  /** A current stack's image resource has this tag. */
  readonly referenced: boolean;
  /** It carries the `created_by=hpcdk` label (.sif files carry what their image had). */
  readonly labelled: boolean;
  /** The stack folder records having built it. */
  readonly recorded: boolean;
  /** The project has a stack of this name, examined on this target. */
  readonly examined: boolean;
  readonly inProject: boolean;
  readonly status: string;
}

function status(r: Omit<ImageRow, 'status'>): string {
  const parts = [
    !r.inProject
      ? 'no such stack in the project'
      : !r.examined
        ? 'stack not examined'
        : r.referenced
          ? 'in use'
          : 'unreferenced',
    ...(r.recorded ? [] : ['not in state']),
    ...(r.kind === 'podman' && !r.labelled ? ['unlabelled'] : []),
  ];
  return parts.join(', ');
}

/** Every image and .sif hpcdk built on the target, found by label and by the stack folders' records. */
export function listImages(
  inventory: TargetInventory,
  ctx: Pick<GcContext, 'current' | 'projectStacks' | 'only'>,
): ImageRow[] {
  const rows: ImageRow[] = [];
  const seen = new Set<string>();
  const row = (r: Omit<ImageRow, 'status'>) => rows.push({ ...r, status: status(r) });
  const wanted = (stack: string) => ctx.only === undefined || ctx.only.has(stack);
  for (const inv of inventory.stacks.values()) {
    if (!wanted(inv.name)) continue;
    const manifest = ctx.current.get(inv.name);
    const events = journalEvents(inv.journal);
    for (const t of builtTags(inv, manifest, inventory.podman)) {
      const base = {
        stack: inv.name,
        ...(t.address ? { address: t.address } : {}),
        tag: t.tag,
        ...(builtIdentity(events, t) ? { identity: builtIdentity(events, t)!.slice(0, 12) } : {}),
        referenced: currentTag(manifest, t.address) === t.tag,
        recorded: t.record !== undefined,
        examined: manifest !== undefined,
        inProject: ctx.projectStacks.has(inv.name),
      };
      if (t.image) {
        seen.add(t.image.id);
        row({
          ...base,
          kind: 'podman',
          image: t.image.ref,
          ...(t.image.digest ? { digest: t.image.digest } : {}),
          id: t.image.id,
          size: t.image.size,
          age: inventory.now - t.image.created,
          labelled: isHpcdkImage(t.image),
        });
      }
      if (t.sif) {
        row({
          ...base,
          kind: 'sif',
          image: t.sif.path,
          ...(t.sif.sha256 ? { digest: `sha256:${t.sif.sha256}` } : {}),
          size: t.sif.size,
          age: inventory.now - t.sif.mtime,
          labelled: true,
        });
      }
    }
  }
  // Labelled images no stack folder here knows: other deployments', stacks gone, untagged builds.
  for (const p of inventory.podman) {
    if (!isHpcdkImage(p) || seen.has(p.id)) continue;
    const stack = p.labels[LABEL_STACK] ?? '';
    if (!wanted(stack)) continue;
    const refs = p.names.length > 0 ? p.names : [p.id.slice(0, 12)];
    for (const ref of refs) {
      const address = p.labels[LABEL_ADDRESS];
      const tag = p.names.length > 0 ? splitRef(ref)[1] : undefined;
      row({
        stack,
        ...(address ? { address } : {}),
        kind: 'podman',
        image: p.names.length > 0 ? ref : `${ref} (untagged)`,
        ...(tag ? { tag } : {}),
        ...(p.digest ? { digest: p.digest } : {}),
        id: p.id,
        size: p.size,
        age: inventory.now - p.created,
        referenced: tag !== undefined && address !== undefined && currentTag(ctx.current.get(stack), address) === tag,
        labelled: true,
        recorded: false,
        examined: ctx.current.has(stack),
        inProject: ctx.projectStacks.has(stack),
      });
    }
  }
  return rows.sort((a, b) =>
    a.stack !== b.stack
      ? a.stack < b.stack
        ? -1
        : 1
      : (a.address ?? '') !== (b.address ?? '')
        ? (a.address ?? '') < (b.address ?? '')
          ? -1
          : 1
        : b.age - a.age,
  );
}

/** Why earlier versions of what a pending or running job uses are kept. */
interface Holds {
  /** Everything a job might use is kept, for this reason. */
  readonly all?: string;
  /** Address → the job of an earlier version that may use that address's earlier versions. */
  readonly byAddress: ReadonlyMap<string, string>;
}

/**
 * A job at its current identity uses the current version of everything it
 * depends on (identities include dependencies'). One of an earlier version
 * may use earlier versions of all it depends on, which are therefore kept.
 */
function holdsOf(inv: StackInventory, manifest: Manifest, schedulerOk: boolean): Holds {
  if (!schedulerOk)
    return { all: 'the scheduler did not answer, so which jobs are running is unknown', byAddress: new Map() };
  const resources = new Map(manifest.resources.map((r) => [r.address, r]));
  const chunks = foldJournal(inv.journal).chunks;
  const roots = new Map<string, string>();
  for (const job of inv.jobs.filter((j) => isActive(j.state))) {
    const unknown = {
      all: `job ${job.id} is pending or running, and which version it runs is unknown`,
      byAddress: new Map<string, string>(),
    };
    if (job.address === undefined || job.identity === undefined) return unknown;
    const points = job.identity.startsWith('chunk-')
      ? chunks.get(`${job.address}@${job.identity}`)
      : [{ address: job.address, identity: job.identity }];
    if (!points) return unknown;
    for (const p of points) {
      const r = resources.get(p.address);
      if (!r)
        return {
          all: `job ${job.id} (${p.address}, no longer in the stack) is pending or running`,
          byAddress: new Map(),
        };
      if (r.identity !== p.identity) roots.set(p.address, job.id);
    }
  }
  const byAddress = new Map<string, string>();
  const visit = (address: string, job: string) => {
    if (byAddress.has(address)) return;
    byAddress.set(address, job);
    for (const d of resources.get(address)?.dependsOn ?? []) visit(d, job);
  };
  for (const [address, job] of roots) visit(address, job);
  return { byAddress };
}

function heldReason(holds: Holds, address: string): string | undefined {
  if (holds.all !== undefined) return holds.all;
  const job = holds.byAddress.get(address);
  return job === undefined ? undefined : `job ${job}, of an earlier version, is pending or running and may use it`;
}

const newest = (entries: readonly Entry[]) => Math.max(0, ...entries.map((e) => e.mtime));
const total = (entries: readonly Entry[]) => entries.reduce((n, e) => n + e.size, 0);

/** Everything gc considers in one examined stack folder. */
function stackItems(inv: StackInventory, manifest: Manifest, inventory: TargetInventory, ctx: GcContext): GcItem[] {
  const now = inventory.now;
  const holds = holdsOf(inv, manifest, inventory.schedulerOk);
  const items: GcItem[] = [];
  const item = (x: Omit<GcItem, 'stack'>) => items.push({ stack: inv.name, ...x });
  const byAddress = new Map<string, ManifestResource>(manifest.resources.map((r) => [r.address, r]));

  for (const t of builtTags(inv, manifest, inventory.podman)) {
    const files = [...(t.record ? [t.record] : []), ...(t.sif ? [t.sif] : []), ...t.leftovers];
    const size = (t.image?.size ?? 0) + total(files);
    const age = now - (t.image?.created ?? newest(files));
    const what = t.image
      ? `${t.image.ref}${t.sif ? ` and ${t.sif.path}` : ''}`
      : (t.sif?.path ?? `${IMAGES_DIR}/${t.address}/${t.tag}`);
    const base = { kind: 'image' as const, address: t.address, what, size, age };
    const current = currentTag(manifest, t.address) === t.tag;
    const held = heldReason(holds, t.address);
    if (current) {
      item({ ...base, size: size - total(t.leftovers), remove: false, reason: 'the stack uses it', steps: [] });
      for (const l of t.leftovers)
        item({
          kind: 'leftover',
          address: t.address,
          what: l.path,
          size: l.size,
          age: now - l.mtime,
          remove: true,
          reason: 'left by an interrupted build',
          steps: [{ op: 'rm', path: l.path }],
        });
    } else if (!t.record) {
      item({
        ...base,
        remove: false,
        reason: 'this stack folder has no record of building it (another deployment of the stack may use it)',
        steps: [],
      });
    } else if (held !== undefined) {
      item({ ...base, remove: false, reason: held, steps: [] });
    } else if (t.record.runner === 'docker') {
      item({ ...base, remove: false, reason: 'built with docker, which gc does not manage', steps: [] });
    } else {
      const steps: RemovalStep[] = [
        ...(t.image ? [{ op: 'rmi' as const, ref: t.image.ref, args: t.image.args }] : []),
        ...[...(t.sif ? [t.sif] : []), ...t.leftovers, t.record].map((e) => ({ op: 'rm' as const, path: e.path })),
      ];
      item({ ...base, remove: true, reason: 'no stack references it', steps });
    }
  }

  // Untagged images of this stack: an earlier build of a tag built again. Nothing can name them.
  for (const p of inventory.podman) {
    if (!isHpcdkImage(p) || p.labels[LABEL_STACK] !== inv.name || p.names.length > 0) continue;
    const age = now - p.created;
    const address = p.labels[LABEL_ADDRESS];
    const base = {
      kind: 'untagged-image' as const,
      ...(address ? { address } : {}),
      what: p.id.slice(0, 12),
      size: p.size,
      age,
    };
    if (age < UNTAGGED_MIN_AGE_SECONDS)
      item({ ...base, remove: false, reason: 'made in the last minutes: a build may still be tagging it', steps: [] });
    else
      item({
        ...base,
        remove: true,
        reason: 'untagged (its tag was built again): nothing can name it',
        steps: [{ op: 'rmi', ref: p.id, args: p.args }],
      });
  }

  for (const b of inv.bundles) {
    const m = /^bundles\/(.+)\/([^/]+)$/.exec(b.path);
    if (!m) continue;
    const [, address = '', name = ''] = m;
    const base = { kind: 'bundle' as const, address, what: b.path, size: b.size, age: now - b.mtime };
    const resource = byAddress.get(address);
    const bundle = resource?.kind === ResourceKind.codeBundle ? resource.spec.bundle : undefined;
    const held = heldReason(holds, address);
    if (name.endsWith('.partial') || name.startsWith(TRASH_PREFIX))
      item({
        ...base,
        remove: true,
        reason: 'left by an interrupted unpack or gc',
        steps: [{ op: 'rmtree', path: b.path }],
      });
    else if (bundle?.contentId === name) item({ ...base, remove: false, reason: 'the stack uses it', steps: [] });
    else if (held !== undefined) item({ ...base, remove: false, reason: held, steps: [] });
    else
      item({
        ...base,
        remove: true,
        reason: bundle
          ? 'code of an earlier commit; the stack uses another'
          : 'no code bundle of the stack is at this address any more',
        steps: [{ op: 'rmtree', path: b.path }],
      });
  }

  const active = inv.jobs.filter((j) => isActive(j.state));
  for (const p of inv.params) {
    const m = /^params\/(.+)\/([0-9a-f]+)\.sh$/.exec(p.path);
    if (!m) continue;
    const [, sweep = '', prefix = ''] = m;
    const base = { kind: 'params' as const, address: sweep, what: p.path, size: p.size, age: now - p.mtime };
    const user = active.find(
      (j) => j.identity === undefined || (j.address === sweep && j.identity.startsWith(`chunk-${prefix}`)),
    );
    if (!inventory.schedulerOk) item({ ...base, remove: false, reason: holdsOf(inv, manifest, false).all!, steps: [] });
    else if (user)
      item({ ...base, remove: false, reason: `job ${user.id} is pending or running and reads it`, steps: [] });
    else item({ ...base, remove: true, reason: 'its jobs have all finished', steps: [{ op: 'rm', path: p.path }] });
  }

  const events = journalEvents(inv.journal);
  const { runs, buildLogs } = attributeLogs(inv.logs, events, foldJournal(inv.journal).chunks, manifest.resources);
  for (const [address, log] of buildLogs) {
    const resource = byAddress.get(address);
    if (resource !== undefined && buildOf(resource) !== undefined) continue;
    item({
      kind: 'build-log',
      address,
      what: log.path,
      size: log.size,
      age: now - log.mtime,
      remove: true,
      reason: 'its resource is no longer in the stack',
      steps: [{ op: 'rm', path: log.path }],
    });
  }
  if (ctx.keepRuns !== undefined) {
    const activeRuns = new Set(active.map((j) => runIdOf(j.id)));
    for (const d of retainRuns(runs, ctx.keepRuns, activeRuns, inventory.schedulerOk ? undefined : holds.all)) {
      const { run } = d;
      item({
        kind: 'run',
        address: run.group,
        what: run.id,
        files: run.files.length,
        size: total(run.files),
        age: now - newest(run.files),
        remove: d.remove,
        reason: d.reason,
        steps: d.remove ? run.files.map((f) => ({ op: 'rm' as const, path: f.path })) : [],
      });
    }
  }

  // Files apply deployed that no current resource has: normally removed by apply; left when a resource's files changed.
  const wanted = new Set(manifest.artifacts.map((a) => a.path));
  const onDisk = new Map(inv.files.map((f) => [f.path.replace(/^files\//, ''), f]));
  for (const path of [...foldJournal(inv.journal).files.keys()].sort()) {
    const f = onDisk.get(path);
    if (wanted.has(path) || !f) continue;
    const base = { kind: 'file' as const, what: `files/${path}`, size: f.size, age: now - f.mtime };
    const held =
      holds.all ??
      (holds.byAddress.size > 0
        ? `job ${[...holds.byAddress.values()][0]}, of an earlier version, is pending or running and may read it`
        : undefined);
    if (held !== undefined) item({ ...base, remove: false, reason: held, steps: [] });
    else
      item({
        ...base,
        remove: true,
        reason: 'deployed by an earlier apply; no current resource has it',
        steps: [{ op: 'rmfile', path }],
      });
  }
  return items;
}

/** A stack folder this command does not reconcile: an orphan named for removal, or left alone. */
function otherStackItem(inv: StackInventory, inventory: TargetInventory, ctx: GcContext): GcItem {
  const all = [...inv.files, ...inv.logs, ...inv.params, ...inv.images, ...inv.bundles];
  const base = {
    stack: inv.name,
    kind: 'stack' as const,
    what: inv.name,
    size: total(all),
    age: inventory.now - newest(all),
  };
  const keep = (reason: string): GcItem => ({ ...base, remove: false, reason, steps: [] });
  if (ctx.projectStacks.has(inv.name))
    return keep(ctx.unexamined?.get(inv.name) ?? 'a stack of this project, not examined on this target');
  if (!ctx.orphans?.has(inv.name))
    return keep('no stack of this project has this name: left alone (name it with --orphans to remove it)');
  if (!inventory.schedulerOk) return keep('the scheduler did not answer, so which jobs are running is unknown');
  const running = inv.jobs.find((j) => isActive(j.state));
  if (running) return keep(`job ${running.id} is pending or running`);
  const images = builtTags(inv, undefined, inventory.podman).filter(
    (t) => t.record && t.image && t.record.runner !== 'docker',
  );
  return {
    ...base,
    size: base.size + images.reduce((n, t) => n + t.image!.size, 0),
    remove: true,
    reason: 'no stack of this project has this name; named with --orphans',
    steps: [
      ...images.map((t) => ({ op: 'rmi' as const, ref: t.image!.ref, args: t.image!.args })),
      { op: 'rmstack' as const },
    ],
  };
}

/** What gc would remove on one target, and what it keeps and why. */
export function decideGc(inventory: TargetInventory, ctx: GcContext): GcPlan {
  const items: GcItem[] = [];
  const stacks: Array<{ stack: string; serial: number; notes: string[] }> = [];
  for (const inv of [...inventory.stacks.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const manifest = ctx.current.get(inv.name);
    const reported = manifest !== undefined || ctx.unexamined?.has(inv.name) || !ctx.projectStacks.has(inv.name);
    if (!reported || (ctx.only !== undefined && !ctx.only.has(inv.name))) continue;
    const notes = inv.lock
      ? [`locked by ${describeLockOwner(inv.lock)}: gc waits for no one and refuses while the lock is held`]
      : [];
    stacks.push({ stack: inv.name, serial: inv.serial, notes });
    items.push(...(manifest ? stackItems(inv, manifest, inventory, ctx) : [otherStackItem(inv, inventory, ctx)]));
  }
  for (const name of inventory.trash) {
    items.push({
      stack: '',
      kind: 'leftover',
      what: name,
      size: 0,
      age: 0,
      remove: true,
      reason: 'left by an interrupted gc',
      steps: [{ op: 'rmtrash', name }],
    });
  }
  return { items, stacks };
}
