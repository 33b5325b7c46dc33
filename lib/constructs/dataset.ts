import type { Construct } from 'constructs';
import { z } from 'zod';
import { HpcConstruct, type ConstructOutput, type SynthContext } from '../core/hpc-construct.js';
import { Scratch, deployedFile, markJobRuntime, type JobRuntime, type JobShape } from '../core/runtime.js';
import { renderStageScript } from '../render/stage.js';
import { word, type RuntimeRef } from '../shell/index.js';
import { ShellValueSchema } from './schemas.js';
import { ResourceKind } from '../core/resource-spec.js';

export const DatasetPropsSchema = z
  .object({
    /** Where the data lives on the target, persistently: a path, or a RuntimeRef such as `RuntimeRef.env('HOME').join('scratch/fb_data/fb_yolo.zip')`. */
    source: ShellValueSchema,
    /**
     * How to bring it to node-local disk: `unzip` or `untar` an archive, `copy`
     * a file or folder, or `rsync` a folder.
     * @default from the source's extension: .zip unzip, .tar/.tar.gz/.tgz untar, else rsync
     */
    mode: z.enum(['unzip', 'untar', 'copy', 'rsync']).optional(),
    /**
     * The folder under node-local scratch it lands in.
     * @default the construct id
     */
    destination: z
      .string()
      .regex(/^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/, 'must be a relative path of plain characters')
      .refine((p) => !p.split('/').includes('..'), 'must stay inside node-local scratch')
      .optional(),
    /** The source archive's sha256: staging fails if the data changed under the stack. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
      .optional(),
  })
  .strict();

export type DatasetProps = z.input<typeof DatasetPropsSchema>;

function defaultMode(source: string): 'unzip' | 'untar' | 'rsync' {
  if (/\.zip$/i.test(source)) return 'unzip';
  if (/\.(tar|tar\.gz|tgz|tar\.bz2|tar\.xz)$/i.test(source)) return 'untar';
  return 'rsync';
}

/**
 * A dataset staged from persistent storage to node-local disk before a job's
 * steps run (seeds 001 and 004: never train off a network mount). On a job
 * spanning several nodes it is staged once per node.
 */
export class Dataset extends HpcConstruct<typeof DatasetPropsSchema> implements JobRuntime {
  public readonly kind = ResourceKind.dataset;

  constructor(scope: Construct, id: string, props: DatasetProps) {
    super(scope, id, DatasetPropsSchema, props);
    markJobRuntime(this);
  }

  public get mode(): 'unzip' | 'untar' | 'copy' | 'rsync' {
    return this.props.mode ?? defaultMode(String(this.props.source));
  }

  /** Where the data is on the node, as jobs see it: `"${HPCDK_SCRATCH}/<destination>"`. */
  public get path(): RuntimeRef {
    return Scratch.path(this.props.destination ?? this.node.id);
  }

  public jobPrologue(_ctx: SynthContext, job: JobShape): string[] {
    const script = word(deployedFile(this.address, 'stage.sh'));
    if (job.nodes > 1) {
      // Every node needs its own copy on its own local disk.
      return [`srun --ntasks="\${SLURM_NNODES}" --ntasks-per-node=1 bash ${script}`];
    }
    return [`bash ${script}`];
  }

  public synthesize(): ConstructOutput {
    const content = renderStageScript({
      source: this.props.source,
      destination: this.path,
      mode: this.mode,
      ...(this.props.sha256 ? { sha256: this.props.sha256 } : {}),
      header: `${this.node.path}: stage ${String(this.props.source)} to node-local disk`,
    });
    return {
      artifacts: [{ path: 'stage.sh', kind: 'script', content, executable: true }],
      resources: [
        {
          kind: this.kind,
          inputs: {
            source: this.props.source,
            mode: this.mode,
            destination: this.path.toString(),
            sha256: this.props.sha256 ?? null,
          },
          spec: {},
        },
      ],
    };
  }
}
