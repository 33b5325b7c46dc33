import { App } from '../core/app.js';
import { ClusterProfile } from '../core/cluster-profile.js';
import type { Artifact, ManifestResource } from '../core/output.js';
import { ofKind, type ResourceKind } from '../core/resource-spec.js';
import { Stack, type StackProps } from '../core/stack.js';
import type { Manifest } from './manifest.js';
import { synthesizeStack } from './synthesize.js';

/** The in-memory result of rendering a stack for one target. */
export interface SynthResult {
  readonly target: string;
  /** Every file of the snapshot folder (manifest.json included), by path. */
  readonly files: Readonly<Record<string, string>>;
  readonly artifacts: readonly Artifact[];
  readonly resources: readonly ManifestResource[];
  readonly manifest: Manifest;
  /** The content of one file; throws, listing the files, when there is none at `path`. */
  file(path: string): string;
  /** The resource at `address`; throws when there is none. */
  resource(address: string): ManifestResource;
  /** The resource at `address`, with its spec typed for `kind`; throws when there is none or it is another kind. */
  resource<K extends ResourceKind>(address: string, kind: K): Extract<ManifestResource, { readonly kind: K }>;
}

/** Helpers for users' own tests of their stacks, as `Testing` in cdk8s. */
// biome-ignore lint/complexity/noStaticOnlyClass: the public API is `Testing.synth(...)`, as in cdk8s.
export class Testing {
  /** A new App, not registered with any CLI load. */
  public static app(): App {
    return new App();
  }

  /** A new stack `test` in a new App. */
  public static stack(props: StackProps = {}, id = 'test'): Stack {
    return new Stack(Testing.app(), id, props);
  }

  /**
   * Renders `stack` for a target (its default, or the one named) and returns
   * the artifacts. Throws a ValidationError listing every problem in the stack.
   */
  public static synth(
    stack: Stack,
    options: { target?: string | ClusterProfile; projectDir?: string } = {},
  ): SynthResult {
    const target =
      options.target instanceof ClusterProfile
        ? options.target
        : options.target === undefined
          ? stack.defaultTarget
          : stack.target(options.target);
    if (!target) throw new Error(`stack ${stack.stackName} does not declare target ${String(options.target)}`);
    const result = synthesizeStack(stack, target, options.projectDir ?? process.cwd());
    const files: Record<string, string> = {};
    for (const [path, f] of result.files) files[path] = f.content;
    return {
      target: target.name,
      files,
      artifacts: result.artifacts,
      resources: result.manifest.resources,
      manifest: result.manifest,
      file(path: string): string {
        const content = files[path];
        if (content === undefined) throw new Error(`no file ${path}; files: ${Object.keys(files).join(', ')}`);
        return content;
      },
      resource<K extends ResourceKind>(address: string, kind?: K) {
        const r = result.manifest.resources.find((x) => x.address === address);
        if (!r)
          throw new Error(
            `no resource ${address}; resources: ${result.manifest.resources.map((x) => x.address).join(', ')}`,
          );
        return kind === undefined ? r : ofKind(r, kind);
      },
    };
  }
}
