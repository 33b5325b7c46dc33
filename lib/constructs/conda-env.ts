import type { Construct } from 'constructs';
import { z } from 'zod';
import type { ConstructOutput, SynthContext } from '../core/hpc-construct.js';
import { Environment } from './environment.js';
import type { ArtifactSpec } from '../core/output.js';
import { deployedFile } from '../core/runtime.js';
import {
  condaActivateLines,
  renderCondaBootstrap,
  renderEnvironmentYml,
  renderRequirementsFile,
  renderSmoke,
  shellSetupLines,
} from '../render/python-env.js';
import { word, type ShellValue } from '../shell/index.js';
import {
  BuildPlaceSchema,
  ModuleNameSchema,
  PythonVersionSchema,
  requirementListSchema,
  requirementLines,
  shellSetupFor,
  SmokeSchema,
  TargetPathSchema,
} from './python-common.js';
import { ResourceKind, type BuildSpec } from '../core/resource-spec.js';

/** A conda match spec: `numpy`, `numpy=1.26`, `numpy==1.26.4`, `pytorch>=2.1,<3`, `conda-forge::numpy=1.26`. */
const CondaSpecSchema = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9_.-]+::)?[A-Za-z0-9_][A-Za-z0-9_.-]*(?:\s*(?:==|=|>=|<=|>|<|!=)\s*[A-Za-z0-9_.*+!-]+(?:\s*,\s*(?:==|=|>=|<=|>|<|!=)\s*[A-Za-z0-9_.*+!-]+)*(?:=[A-Za-z0-9_.*+-]+)?)?$/,
    'must be a conda match spec such as numpy=1.26.4',
  );

export const CondaEnvPropsSchema = z
  .object({
    /** The `name:` written in environment.yml (informative: the environment is created at its prefix). @default none */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'must be a conda environment name')
      .optional(),
    /** The prefix (`conda env create -p`). @default `<stack folder>/envs/<address>` for `login`, `$<scratchVar>/conda-envs/<address>` otherwise */
    location: TargetPathSchema.optional(),
    /** Channels, in priority order. Required: an environment that names none depends on whoever's .condarc. */
    channels: z
      .array(z.string().regex(/^[A-Za-z0-9_.:/-]+$/, 'must be a channel name or URL'))
      .min(1, 'needs at least one channel (e.g. conda-forge)'),
    /** The Python version, written as `python=<version>` first among the dependencies. @default none */
    python: PythonVersionSchema.optional(),
    /** Conda packages (match specs). @default none */
    dependencies: z.array(CondaSpecSchema).default([]),
    /** The `pip:` section: pinned PEP 508 requirements installed by conda's pip step. @default none */
    pip: requirementListSchema().default([]),
    /** Pins installed afterwards with `pip install --no-deps -r requirements-pip.txt`. @default none */
    pipOnly: requirementListSchema().default([]),
    /** Modules loaded first (a `miniconda` module on some sites). @default none */
    modules: z.array(ModuleNameSchema).default([]),
    /** The acceptance check. @default none */
    smoke: SmokeSchema.optional(),
    /** Where it is built: `login`, `job` or `per-node` (see PythonEnv). @default 'login' */
    build: BuildPlaceSchema.default('login'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.python !== undefined) {
      const i = p.dependencies.findIndex((d) => /^(?:[^:]+::)?python(\s*[=<>!]|$)/.test(d));
      if (i >= 0)
        ctx.addIssue({
          code: 'custom',
          path: ['dependencies', i],
          message: 'names python again; the python prop already sets it',
          input: p.dependencies[i],
        });
    }
  });

export type CondaEnvProps = z.input<typeof CondaEnvPropsSchema>;

/**
 * A conda environment at a prefix: environment.yml with channels,
 * conda dependencies and a pip: section, plus pip-only pins installed with
 * --no-deps. Built with `conda env create -p` / `conda env update -p`;
 * recorded with `conda list --export` and checked for drift by plan.
 */
export class CondaEnv extends Environment<typeof CondaEnvPropsSchema> {
  public readonly kind = ResourceKind.condaEnv;

  constructor(scope: Construct, id: string, props: CondaEnvProps) {
    super(scope, id, CondaEnvPropsSchema, props);
  }

  public readonly freezeCommand = 'conda list --export';

  protected activationLines(location: ShellValue): string[] {
    return condaActivateLines(location);
  }

  /** Conda dependencies in environment.yml order: python first, then sorted. */
  private condaDependencies(): string[] {
    const sorted = [...this.props.dependencies].map((d) => d.replace(/\s+/g, '')).sort();
    return this.props.python !== undefined ? [`python=${this.props.python}`, ...sorted] : sorted;
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const p = this.props;
    const prefix = this.location(ctx);
    const pip = requirementLines(p.pip);
    const pipOnly = requirementLines(p.pipOnly);
    const dependencies = this.condaDependencies();
    const header = [
      `${this.node.path} on target ${ctx.target.name}`,
      'Rendered by hpcdk; edit the stack, not this file.',
    ];
    const artifacts: ArtifactSpec[] = [
      {
        path: 'environment.yml',
        kind: 'environment-yml',
        content: renderEnvironmentYml(
          { ...(p.name !== undefined ? { name: p.name } : {}), channels: p.channels, dependencies, pip },
          `${this.node.path}: rendered by hpcdk; edit the stack, not this file.`,
        ),
      },
    ];
    if (pipOnly.length > 0) {
      artifacts.push({
        path: 'requirements-pip.txt',
        kind: 'requirements',
        content: renderRequirementsFile(
          `${this.node.path}: pip-only packages, installed with --no-deps (rendered by hpcdk).`,
          pipOnly,
        ),
      });
    }
    artifacts.push({
      path: 'bootstrap.sh',
      kind: 'script',
      executable: true,
      content: renderCondaBootstrap({
        header,
        setup: shellSetupFor(ctx.target, p.modules),
        prefix,
        environmentFile: deployedFile(this.address, 'environment.yml'),
        ...(pipOnly.length > 0 ? { pipOnlyFile: deployedFile(this.address, 'requirements-pip.txt') } : {}),
        pipOnlyCount: pipOnly.length,
      }),
    });
    if (p.smoke) {
      artifacts.push({
        path: 'smoke.sh',
        kind: 'script',
        executable: true,
        content: renderSmoke({
          header,
          envDir: prefix,
          imports: p.smoke.imports,
          versions: p.smoke.versions,
          address: this.address,
        }),
      });
    }
    const build: BuildSpec = {
      script: `${this.address}/bootstrap.sh`,
      ...(p.smoke ? { check: `${this.address}/smoke.sh` } : {}),
      // conda's own list includes the pip-installed packages (build `pypi_0`); conda needs the profile's init first.
      lock: [
        ...shellSetupLines(shellSetupFor(ctx.target, p.modules)),
        `conda list --prefix ${word(prefix)} --export`,
      ].join('\n'),
    };
    return {
      artifacts,
      resources: [
        {
          kind: this.kind,
          inputs: {
            name: p.name ?? null,
            channels: p.channels,
            dependencies,
            pip,
            pipOnly,
            modules: p.modules,
            location: String(prefix),
            build: p.build,
          },
          spec: { conda: { dependencies, pip, pipOnly }, ...(p.build === 'login' ? { build } : {}) },
        },
      ],
    };
  }
}
