import { Construct } from 'constructs';
import type { z } from 'zod';
import type { ClusterProfile } from './cluster-profile.js';
import type { ArtifactSpec, ManifestResource } from './output.js';
import type { KindAndSpec } from './resource-spec.js';
import { Stack } from './stack.js';
import { issuesFromZod, rawPropIssues, type ValidationIssue } from './validation.js';

const HPC_CONSTRUCT = Symbol.for('hpcdk.HpcConstruct');

/** What every declaration has; the synthesizer computes identity and addresses. */
export interface ResourceDeclarationFields {
  /** @default the construct's address. Sweeps add a suffix per point. */
  readonly address?: string;
  /**
   * The named inputs that make this resource what it is (a requirement list,
   * a base image, a param set). Each is hashed on its own, so plan can name
   * the input that changed.
   */
  readonly inputs: Readonly<Record<string, unknown>>;
  /** Constructs whose resources must exist first; their identities are part of this one's. */
  readonly dependsOn?: readonly HpcConstruct[];
  /** Paths (relative to the construct's folder) of the artifacts that belong to it. @default all of the construct's artifacts */
  readonly artifacts?: readonly string[];
}

/** A resource as a construct declares it: its `kind` and the spec apply needs for that kind. */
export type ResourceDeclaration = ResourceDeclarationFields & KindAndSpec;

/** What one construct renders for one target. */
export interface ConstructOutput {
  readonly artifacts: readonly ArtifactSpec[];
  readonly resources: readonly ResourceDeclaration[];
}

/** A construct's output after synth: artifacts placed, resources with identities. */
export interface SynthesizedConstruct {
  readonly construct: HpcConstruct;
  /** Snapshot paths of its artifacts, keyed by their path within the construct's folder. */
  readonly artifactPaths: ReadonlyMap<string, string>;
  readonly resources: readonly ManifestResource[];
}

/**
 * The render context, passed explicitly to every construct: which stack and
 * target are being rendered, and a way to read other constructs' results.
 */
export interface SynthContext {
  readonly stack: Stack;
  readonly target: ClusterProfile;
  /** The project folder: where relative local paths (code to bundle, files to copy) are resolved. */
  readonly projectDir: string;
  /** Synthesizes `construct` (once) and returns its result; used for identities and deployed paths. */
  resolve(construct: HpcConstruct): SynthesizedConstruct;
}

/**
 * The base of every construct that renders artifacts or declares resources.
 * Props are validated with a zod schema when the construct is made; problems
 * are collected, not thrown, so synth can list them all at once.
 */
export abstract class HpcConstruct<S extends z.ZodType = z.ZodType> extends Construct {
  public static isHpcConstruct(x: unknown): x is HpcConstruct {
    return typeof x === 'object' && x !== null && HPC_CONSTRUCT in x;
  }

  /** The validated props, with defaults filled in. */
  public readonly props: z.output<S>;
  /** A short kind name, e.g. `python-env`, recorded in the manifest. */
  public abstract readonly kind: string;
  private readonly issues: ValidationIssue[] = [];

  protected constructor(scope: Construct, id: string, schema: S, props: z.input<S>) {
    super(scope, id);
    Object.defineProperty(this, HPC_CONSTRUCT, { value: true });
    // The constructs library silently renames `a/b` (and a newline) to `a--b`: say so rather than deploy under another name.
    if (/[/\n]/.test(id))
      this.issues.push({
        path: this.node.path,
        field: 'id',
        message: 'a construct id may not contain / or a newline (nest constructs in a scope instead)',
        got: id,
      });
    this.issues.push(...rawPropIssues(this.node.path, props));
    const parsed = schema.safeParse(props ?? {}, { reportInput: true });
    if (parsed.success) {
      this.props = parsed.data as z.output<S>;
    } else {
      this.props = props as z.output<S>;
      this.issues.push(...issuesFromZod(this.node.path, parsed.error));
    }
  }

  /** The stack this construct belongs to. */
  public get stack(): Stack {
    return Stack.of(this);
  }

  /** The construct's address: its path below the stack, e.g. `experiments/train`. Stable across runs. */
  public get address(): string {
    const stackPath = this.stack.node.path;
    return this.node.path.slice(stackPath.length + 1);
  }

  /** Records a problem found after construction (e.g. by a method call). */
  protected addIssue(field: string, message: string, got?: unknown): void {
    // biome-ignore lint/complexity/noArguments: a `got` passed as undefined is shown; one left out is not.
    this.issues.push({ path: this.node.path, field, message, ...(arguments.length > 2 ? { got } : {}) });
  }

  /** Problems found in the props. Synth renders nothing while any construct has one. */
  public validationIssues(): readonly ValidationIssue[] {
    return this.issues;
  }

  /** Problems that depend on the target (limits, what it offers). Override to check. */
  public validateForTarget(_ctx: SynthContext): ValidationIssue[] {
    return [];
  }

  /** Renders this construct for one target. A pure function of props and context. */
  public abstract synthesize(ctx: SynthContext): ConstructOutput;

  /** A ValidationIssue for this construct, for use in validateForTarget. */
  protected issue(field: string, message: string, got?: unknown): ValidationIssue {
    // biome-ignore lint/complexity/noArguments: a `got` passed as undefined is shown; one left out is not.
    return { path: this.node.path, field, message, ...(arguments.length > 2 ? { got } : {}) };
  }
}
