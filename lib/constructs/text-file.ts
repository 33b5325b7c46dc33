import type { Construct } from 'constructs';
import { z } from 'zod';
import { HpcConstruct, type ConstructOutput } from '../core/hpc-construct.js';
import { ResourceKind } from '../core/resource-spec.js';

export const TextFilePropsSchema = z
  .object({
    /** The file's content. Line endings are normalised to LF. */
    content: z.string(),
    /**
     * The file's name inside the construct's folder.
     * @default the construct id
     */
    fileName: z
      .string()
      .regex(/^[A-Za-z0-9._+@=-]+$/, 'must be a plain file name (letters, digits, . _ + @ = -)')
      .refine((n) => n !== '.' && n !== '..', 'must be a plain file name')
      .optional(),
    /** Deploy with mode 0755. @default false */
    executable: z.boolean().default(false),
  })
  .strict();

export type TextFileProps = z.input<typeof TextFilePropsSchema>;

/**
 * A file deployed to the target as it is: a config, a params file, a helper
 * script. The simplest resource: plan shows its diff, apply uploads it.
 */
export class TextFile extends HpcConstruct<typeof TextFilePropsSchema> {
  public readonly kind = ResourceKind.file;

  constructor(scope: Construct, id: string, props: TextFileProps) {
    super(scope, id, TextFilePropsSchema, props);
  }

  public get fileName(): string {
    return this.props.fileName ?? this.node.id;
  }

  public synthesize(): ConstructOutput {
    return {
      artifacts: [
        {
          path: this.fileName,
          kind: this.props.executable ? 'script' : 'file',
          content: this.props.content,
          executable: this.props.executable,
        },
      ],
      resources: [
        { kind: this.kind, inputs: { content: this.props.content, executable: this.props.executable }, spec: {} },
      ],
    };
  }
}
