import type { IConstruct } from 'constructs';
import { App } from '../core/app.js';
import type { ClusterProfile } from '../core/cluster-profile.js';
import { digestOf, sha256 } from '../core/digest.js';
import {
  HpcConstruct,
  type ConstructOutput,
  type SynthContext,
  type SynthesizedConstruct,
} from '../core/hpc-construct.js';
import type { Artifact, ManifestResource } from '../core/output.js';
import { Stack } from '../core/stack.js';
import { ValidationError, formatIssue, type ValidationIssue } from '../core/validation.js';
import { MANIFEST_FILE, MANIFEST_VERSION, serializeManifest, type Manifest } from './manifest.js';

/** One stack rendered for one target, in memory. */
export interface StackSynthesis {
  readonly stack: string;
  readonly target: string;
  /** Sorted by path; does not include the manifest itself. */
  readonly artifacts: readonly Artifact[];
  readonly manifest: Manifest;
  /** Every file of the snapshot folder, manifest included, keyed by path. */
  readonly files: ReadonlyMap<string, SnapshotFile>;
}

export interface SnapshotFile {
  readonly content: string;
  readonly executable: boolean;
}

const SAFE_SEGMENT = /^[A-Za-z0-9._+@=-]+$/;

function hpcConstructsOf(root: IConstruct): HpcConstruct[] {
  return root.node.findAll().filter(HpcConstruct.isHpcConstruct);
}

/**
 * Problems with the props of every construct in `scope` (an App or a Stack),
 * gathered before anything is rendered: all of them, not just the first.
 */
export function collectIssues(scope: IConstruct): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const stacks = App.isApp(scope) ? scope.stacks : Stack.isStack(scope) ? [scope] : [];
  for (const stack of stacks) issues.push(...stack.stackIssues());
  for (const node of scope.node.findAll()) {
    if (HpcConstruct.isHpcConstruct(node)) issues.push(...node.validationIssues());
    // Validations added with node.addValidation() by users' own constructs.
    for (const message of node.node.validate()) {
      issues.push({ path: node.node.path, field: '', message });
    }
    // Ids become folder names in snapshots and on targets: `.` and `..` would put files outside their folder.
    if (!Stack.isStack(node) && (!SAFE_SEGMENT.test(node.node.id) || node.node.id === '.' || node.node.id === '..')) {
      issues.push({
        path: node.node.path,
        field: 'id',
        message: 'a construct id may hold only letters, digits and . _ + @ = -, and may not be . or ..',
        got: node.node.id,
      });
    }
  }
  return issues;
}

function normaliseContent(content: string): string {
  return content.replace(/\r\n?/g, '\n');
}

function checkArtifactPath(owner: HpcConstruct, path: string): ValidationIssue | undefined {
  const parts = path.split('/');
  if (
    path === '' ||
    path.startsWith('/') ||
    parts.some((p) => p === '' || p === '.' || p === '..' || !SAFE_SEGMENT.test(p))
  ) {
    return {
      path: owner.node.path,
      field: 'artifacts',
      message: 'an artifact path must be relative, without . or .. segments, in plain characters',
      got: path,
    };
  }
  return undefined;
}

/**
 * Renders `stack` for `target`. Pure: the same construct tree and target
 * always give the same bytes. Throws a ValidationError listing every problem.
 */
export function synthesizeStack(
  stack: Stack,
  target: ClusterProfile,
  projectDir: string = process.cwd(),
): StackSynthesis {
  const propIssues = collectIssues(stack);

  const constructs = hpcConstructsOf(stack);
  const results = new Map<HpcConstruct, SynthesizedConstruct>();
  const inProgress: HpcConstruct[] = [];
  const issues: ValidationIssue[] = [];
  const artifacts: Artifact[] = [];

  // The points of a sweep share one template object: hash it once, not once a point.
  const digests = new Map<object, string>();
  const inputDigest = (value: unknown): string => {
    if (typeof value !== 'object' || value === null) return digestOf(value);
    let digest = digests.get(value);
    if (digest === undefined) digests.set(value, (digest = digestOf(value)));
    return digest;
  };

  const ctx: SynthContext = {
    stack,
    target,
    projectDir,
    resolve(construct: HpcConstruct): SynthesizedConstruct {
      const done = results.get(construct);
      if (done) return done;
      if (Stack.of(construct) !== stack) {
        throw new ValidationError([
          {
            path: construct.node.path,
            field: '',
            message: `is used by stack ${stack.stackName} but belongs to another stack`,
          },
        ]);
      }
      if (inProgress.includes(construct)) {
        const cycle = [...inProgress.slice(inProgress.indexOf(construct)), construct]
          .map((c) => c.address)
          .join(' -> ');
        throw new ValidationError([
          { path: construct.node.path, field: 'dependsOn', message: `dependency cycle: ${cycle}` },
        ]);
      }
      inProgress.push(construct);
      try {
        const result = place(construct, construct.synthesize(ctx));
        results.set(construct, result);
        return result;
      } finally {
        inProgress.pop();
      }
    },
  };

  function place(construct: HpcConstruct, output: ConstructOutput): SynthesizedConstruct {
    const artifactPaths = new Map<string, string>();
    const shaByPath = new Map<string, string>();
    for (const spec of output.artifacts) {
      const bad = checkArtifactPath(construct, spec.path);
      if (bad) throw new ValidationError([bad]);
      if (artifactPaths.has(spec.path)) {
        throw new ValidationError([
          { path: construct.node.path, field: 'artifacts', message: 'renders the same file twice', got: spec.path },
        ]);
      }
      const content = normaliseContent(spec.content);
      const path = `${construct.address}/${spec.path}`;
      const digest = sha256(content);
      artifactPaths.set(spec.path, path);
      shaByPath.set(spec.path, digest);
      artifacts.push({
        path,
        kind: spec.kind,
        content,
        executable: spec.executable ?? false,
        construct: construct.node.path,
        sha256: digest,
      });
    }
    const resources: ManifestResource[] = output.resources.map((decl) => {
      const own = decl.artifacts ?? [...artifactPaths.keys()];
      const dependencies = (decl.dependsOn ?? []).flatMap((d) => ctx.resolve(d).resources);
      const inputs: Record<string, string> = {};
      for (const [name, value] of Object.entries(decl.inputs)) inputs[name] = inputDigest(value ?? null);
      const files: Record<string, string> = {};
      for (const p of own) {
        const digest = shaByPath.get(p);
        if (digest === undefined) {
          throw new ValidationError([
            {
              path: construct.node.path,
              field: 'artifacts',
              message: 'a resource names an artifact the construct did not render',
              got: p,
            },
          ]);
        }
        files[p] = digest;
      }
      const dependsOn = [...new Set(dependencies.map((r) => r.address))].sort();
      const identity = digestOf({
        kind: decl.kind,
        target: target.name,
        inputs,
        files,
        dependencies: dependencies.map((r) => r.identity).sort(),
      });
      // Spread whole, so each kind keeps its own spec type.
      return {
        ...decl,
        address: decl.address ?? construct.address,
        construct: construct.node.path,
        identity,
        inputs,
        dependsOn,
        artifacts: own.map((p) => artifactPaths.get(p)!).sort(),
      };
    });
    return { construct, artifactPaths, resources };
  }

  // Target checks run for every construct whose own props are valid, so one
  // synth lists every problem: bad props and what the target cannot do.
  issues.push(...propIssues);
  for (const construct of constructs) {
    if (construct.validationIssues().length === 0) issues.push(...construct.validateForTarget(ctx));
  }
  if (issues.length > 0) throw new ValidationError(issues);

  for (const construct of constructs) ctx.resolve(construct);

  const resources = constructs.flatMap((c) => results.get(c)!.resources);
  const seen = new Map<string, string>();
  for (const r of resources) {
    const other = seen.get(r.address);
    if (other !== undefined) {
      issues.push({
        path: r.construct,
        field: '',
        message: `declares resource address ${r.address}, already declared by ${other}`,
      });
    }
    seen.set(r.address, r.construct);
  }
  if (issues.length > 0) throw new ValidationError(issues);

  artifacts.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    stack: stack.stackName,
    target: target.toManifest(),
    artifacts: artifacts.map(({ path, kind, construct, sha256: digest, executable }) => ({
      path,
      kind,
      construct,
      sha256: digest,
      executable,
    })),
    resources: [...resources].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)),
  };
  if (artifacts.some((a) => a.path === MANIFEST_FILE)) {
    throw new ValidationError([
      {
        path: stack.node.path,
        field: '',
        message: `a construct may not render ${MANIFEST_FILE} at the stack's top level`,
      },
    ]);
  }
  // Made when first asked for: serialising the manifest of a large sweep costs
  // more than the rest of a plan's rendering, and plan needs it only to check
  // the committed snapshot.
  let files: Map<string, SnapshotFile> | undefined;
  const snapshotFiles = (): Map<string, SnapshotFile> => {
    const made = new Map<string, SnapshotFile>();
    for (const a of artifacts) made.set(a.path, { content: a.content, executable: a.executable });
    made.set(MANIFEST_FILE, { content: serializeManifest(manifest), executable: false });
    return made;
  };
  return {
    stack: stack.stackName,
    target: target.name,
    artifacts,
    manifest,
    get files() {
      return (files ??= snapshotFiles());
    },
  };
}

/** Renders every declared target of every given stack. Validates all stacks before rendering any. */
export function synthesizeStacks(
  stacks: readonly Stack[],
  onlyTarget?: string,
  projectDir: string = process.cwd(),
): StackSynthesis[] {
  const out: StackSynthesis[] = [];
  const errors: ValidationIssue[] = [];
  for (const stack of stacks) {
    const targets =
      onlyTarget === undefined ? stack.targets : [stack.target(onlyTarget)].filter((t) => t !== undefined);
    for (const target of targets) {
      try {
        out.push(synthesizeStack(stack, target, projectDir));
      } catch (e) {
        if (e instanceof ValidationError) errors.push(...e.issues);
        else throw e;
      }
    }
  }
  if (errors.length > 0) {
    // A bad prop is found once per target: report it once.
    const unique = new Map(errors.map((e) => [formatIssue(e), e]));
    throw new ValidationError([...unique.values()]);
  }
  return out;
}
