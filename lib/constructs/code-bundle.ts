import type { Construct } from 'constructs';
import { z } from 'zod';
import { digestOf } from '../core/digest.js';
import { HpcConstruct, type ConstructOutput, type SynthContext } from '../core/hpc-construct.js';
import { STACK_DIR, markJobRuntime, type JobRuntime } from '../core/runtime.js';
import type { ValidationIssue } from '../core/validation.js';
import { renderUnpackScript } from '../render/code-bundle.js';
import { RuntimeRef, word } from '../shell/index.js';
import { isGitRepo, treeAtHead, type TreeEntry } from '../core/git.js';
import { ResourceKind } from '../core/resource-spec.js';
import { BUNDLE_COMMIT_FILE, BUNDLES_DIR } from '../state/layout.js';

export const CodeBundlePropsSchema = z
  .object({
    /** Git-tracked files and folders to bundle, relative to the project folder, e.g. `['experiments/v68', 'requirements.txt']`. */
    paths: z
      .array(
        z
          .string()
          .min(1)
          .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a path inside the project'),
      )
      .min(1, 'a bundle needs at least one path'),
  })
  .strict();

export type CodeBundleProps = z.input<typeof CodeBundlePropsSchema>;

/**
 * An airlock: the job runs a content-addressed archive of the
 * git-tracked files under `paths` as committed, never a working copy that
 * drifted. Its identity is the tree of blob hashes, so a new commit that
 * leaves these files alone changes nothing. Apply refuses uncommitted
 * changes in them unless --allow-dirty, and records the commit, which jobs
 * see as HPCDK_CODE_COMMIT.
 */
export class CodeBundle extends HpcConstruct<typeof CodeBundlePropsSchema> implements JobRuntime {
  public readonly kind = ResourceKind.codeBundle;

  constructor(scope: Construct, id: string, props: CodeBundleProps) {
    super(scope, id, CodeBundlePropsSchema, props);
    markJobRuntime(this);
  }

  /** The unpacked code on the target, as jobs see it: `$HPCDK_CODE_DIR`. Use it as a job's workdir. */
  public get dir(): RuntimeRef {
    return RuntimeRef.env('HPCDK_CODE_DIR');
  }

  private tree(ctx: SynthContext): TreeEntry[] {
    return treeAtHead(ctx.projectDir, this.props.paths);
  }

  public override validateForTarget(ctx: SynthContext): ValidationIssue[] {
    if (!isGitRepo(ctx.projectDir))
      return [
        this.issue(
          'paths',
          `the project folder is not in a git repository, so there is no commit to bundle`,
          ctx.projectDir,
        ),
      ];
    const tree = this.tree(ctx);
    const missing = this.props.paths.filter(
      (p) => !tree.some((e) => e.path === p || e.path.startsWith(`${p.replace(/\/$/, '')}/`)),
    );
    return missing.map((p) => this.issue('paths', 'is not tracked by git at HEAD (commit it first)', p));
  }

  /** A short content id for the folder the bundle unpacks to. */
  private contentId(ctx: SynthContext): string {
    return digestOf(this.tree(ctx)).slice(0, 16);
  }

  private codeDir(ctx: SynthContext): RuntimeRef {
    return STACK_DIR.join(BUNDLES_DIR, this.address, this.contentId(ctx));
  }

  public jobPrologue(ctx: SynthContext): string[] {
    return [
      `export HPCDK_CODE_DIR=${word(this.codeDir(ctx))}`,
      `HPCDK_CODE_COMMIT="$(cat "\${HPCDK_CODE_DIR}/${BUNDLE_COMMIT_FILE}")"`,
      'export HPCDK_CODE_COMMIT',
      `echo "hpcdk: code ${this.address} at commit \${HPCDK_CODE_COMMIT}" >&2`,
    ];
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const tree = this.tree(ctx);
    const listing = `${tree.map((e) => `${e.mode} ${e.blob} ${e.path}`).join('\n')}\n`;
    const unpack = renderUnpackScript({
      archive: STACK_DIR.join(BUNDLES_DIR, this.address, 'incoming.tar.gz'),
      commitFile: STACK_DIR.join(BUNDLES_DIR, this.address, 'incoming.commit'),
      destination: this.codeDir(ctx),
      header: `${this.node.path}: unpack the code bundle`,
    });
    return {
      artifacts: [
        { path: 'files.txt', kind: 'manifest', content: listing },
        { path: 'unpack.sh', kind: 'script', content: unpack, executable: true },
      ],
      resources: [
        {
          kind: this.kind,
          inputs: { tree: listing },
          spec: {
            build: { script: `${this.address}/unpack.sh` },
            bundle: {
              paths: this.props.paths,
              contentId: this.contentId(ctx),
              archive: `${BUNDLES_DIR}/${this.address}/incoming.tar.gz`,
              commitFile: `${BUNDLES_DIR}/${this.address}/incoming.commit`,
            },
          },
        },
      ],
    };
  }
}
