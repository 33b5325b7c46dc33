import type { Construct } from 'constructs';
import { z } from 'zod';
import { HpcConstruct, type ConstructOutput, type SynthContext } from '../core/hpc-construct.js';
import type { ArtifactSpec } from '../core/output.js';
import { deployedFile, STACK_DIR } from '../core/runtime.js';
import { pipSourceWords, renderRequirementsFile, renderWheelhouseGather } from '../render/python-env.js';
import { word, type ShellValue } from '../shell/index.js';
import {
  IndexUrlSchema,
  ModuleNameSchema,
  requirementListSchema,
  requirementLines,
  shellSetupFor,
  TargetPathSchema,
} from './python-common.js';
import { ShellValueSchema } from './schemas.js';
import { ResourceKind, type BuildSpec } from '../core/resource-spec.js';

export const WheelhousePropsSchema = z
  .object({
    /** Where the wheels are on the target; a PythonEnv's `findLinks` points here. @default `<stack folder>/wheelhouses/<address>` */
    location: TargetPathSchema.optional(),
    /** The user's projects (folders on the target, e.g. a checkout): each is built into a wheel and its dependencies are downloaded. @default none */
    projects: z.array(ShellValueSchema).default([]),
    /** More pinned requirements (`==` or `~=`) to download with their dependencies. @default none */
    requirements: requirementListSchema().default([]),
    /** The interpreter whose pip gathers the wheels; wheels are chosen for its version and platform. @default `python3` */
    interpreter: z
      .string()
      .regex(/^[A-Za-z0-9._/+-]+$/, 'must be a command name or path')
      .default('python3'),
    /** Modules loaded before gathering (on DRAC, the same python module the environment uses). @default none */
    modules: z.array(ModuleNameSchema).default([]),
    /** @default pip's (PyPI) */
    indexUrls: z.array(IndexUrlSchema).default([]),
    /** @default none */
    extraIndexUrls: z.array(IndexUrlSchema).default([]),
    /** Folders or URLs pip also looks in. @default none */
    findLinks: z.array(ShellValueSchema).default([]),
    /** Gather only from `findLinks` (a mirror already on the target). @default false */
    noIndex: z.boolean().default(false),
    /** Build the projects with the interpreter's own setuptools (`--no-build-isolation`), as offline machines must. @default false */
    noBuildIsolation: z.boolean().default(false),
    /**
     * `login`: apply gathers the wheels on the login node (it has internet on DRAC).
     * `manual`: only gather.sh is rendered, to run on a machine with internet and copy over.
     * @default 'login'
     */
    gather: z.enum(['login', 'manual']).default('login'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.projects.length === 0 && p.requirements.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['projects'],
        message: 'a wheelhouse needs at least one project or requirement',
        input: p.projects,
      });
    }
  });

export type WheelhouseProps = z.input<typeof WheelhousePropsSchema>;

/**
 * Wheels gathered with pip on a machine with internet (the user's project
 * and its dependencies), installed later with `--no-index --find-links` on
 * nodes without it. Pass it in a PythonEnv's `findLinks`.
 */
export class Wheelhouse extends HpcConstruct<typeof WheelhousePropsSchema> {
  public readonly kind = ResourceKind.wheelhouse;

  constructor(scope: Construct, id: string, props: WheelhouseProps) {
    super(scope, id, WheelhousePropsSchema, props);
  }

  /** Where the wheels are on the target, as scripts see it. */
  public get location(): ShellValue {
    return this.props.location ?? STACK_DIR.join('wheelhouses', this.address);
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const p = this.props;
    const requirements = requirementLines(p.requirements);
    const header = [
      `${this.node.path} on target ${ctx.target.name}: gathers wheels with pip.`,
      'Rendered by hpcdk; edit the stack, not this file.',
    ];
    const sources = {
      indexUrls: p.indexUrls,
      extraIndexUrls: p.extraIndexUrls,
      findLinks: p.findLinks,
      noIndex: p.noIndex,
    };
    const gather = renderWheelhouseGather({
      header,
      setup: shellSetupFor(ctx.target, p.modules),
      wheelDir: this.location,
      interpreter: p.interpreter,
      sources,
      projects: p.projects,
      noBuildIsolation: p.noBuildIsolation,
      ...(requirements.length > 0 ? { requirementsFile: deployedFile(this.address, 'requirements.txt') } : {}),
    });
    const artifacts: ArtifactSpec[] = [{ path: 'gather.sh', kind: 'script', content: gather, executable: true }];
    if (requirements.length > 0) {
      artifacts.push({
        path: 'requirements.txt',
        kind: 'requirements',
        content: renderRequirementsFile(`${this.node.path}: downloaded into the wheelhouse.`, requirements),
        executable: false,
      });
    }
    const build: BuildSpec = {
      script: `${this.address}/gather.sh`,
      // The wheels' file names are the wheelhouse's actual state.
      lock: `find ${word(this.location)} -maxdepth 1 -name '*.whl' -printf '%f\\n' | sort`,
    };
    return {
      artifacts,
      resources: [
        {
          kind: this.kind,
          inputs: {
            location: String(this.location),
            projects: p.projects.map(String),
            requirements,
            interpreter: p.interpreter,
            modules: p.modules,
            sources: pipSourceWords(sources),
            noBuildIsolation: p.noBuildIsolation,
          },
          spec: p.gather === 'login' ? { build } : {},
        },
      ],
    };
  }
}
