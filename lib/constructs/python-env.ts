import type { Construct } from 'constructs';
import { z } from 'zod';
import type { ConstructOutput, SynthContext } from '../core/hpc-construct.js';
import { Environment } from './environment.js';
import type { ArtifactSpec } from '../core/output.js';
import { deployedFile } from '../core/runtime.js';
import {
  pipSourceWords,
  renderRequirementsFile,
  renderSmoke,
  renderVenvBootstrap,
  pathBelow,
  ENV_INFO_PY,
  venvActivateLines,
} from '../render/python-env.js';
import { isRuntimeRef, word, type ShellValue } from '../shell/index.js';
import {
  BuildPlaceSchema,
  IndexUrlSchema,
  ModuleNameSchema,
  PythonVersionSchema,
  requirementListSchema,
  requirementLines,
  shellSetupFor,
  SmokeSchema,
  TargetPathSchema,
} from './python-common.js';
import { ShellValueSchema } from './schemas.js';
import { Wheelhouse } from './wheelhouse.js';
import { ResourceKind, type BuildSpec } from '../core/resource-spec.js';

/** A folder of wheels for `--find-links`: a path, a RuntimeRef, or a Wheelhouse construct. */
const FindLinkSchema = z.union([
  ShellValueSchema,
  z.custom<Wheelhouse>((x) => x instanceof Wheelhouse, { message: 'must be a path, a RuntimeRef or a Wheelhouse' }),
]);

export const PythonEnvPropsSchema = z
  .object({
    /** The Python version; picks the interpreter `python<version>` unless `interpreter` is given. @default the `python3` on PATH */
    python: PythonVersionSchema.optional(),
    /** The command that creates the environment. @default `python<python>`, else `python3` */
    interpreter: z
      .string()
      .regex(/^[A-Za-z0-9._/+-]+$/, 'must be a command name or path')
      .optional(),
    /** `venv` (the standard library's) or `virtualenv` (DRAC's recommendation; faster). @default 'venv' */
    tool: z.enum(['venv', 'virtualenv']).default('venv'),
    /** Modules loaded before the environment is built or used, e.g. `['python/3.11.5', 'scipy-stack/2024a']`. @default none */
    modules: z.array(ModuleNameSchema).default([]),
    /** Pinned requirements: PEP 508, each with `==` or `~=` (DRAC wheels: `requests~=2.31.0`). @default none */
    requirements: requirementListSchema().default([]),
    /** Packages installed with `--no-deps` from a separate requirements-pip.txt. @default none */
    pipOnly: requirementListSchema().default([]),
    /** `--index-url`s. @default pip's (PyPI) */
    indexUrls: z.array(IndexUrlSchema).default([]),
    /** `--extra-index-url`s. @default none */
    extraIndexUrls: z.array(IndexUrlSchema).default([]),
    /** `--find-links` folders: a cluster wheelhouse, `$HOME/project/dist`, or a Wheelhouse construct. @default none */
    findLinks: z.array(FindLinkSchema).default([]),
    /** `pip install --no-index`: only `findLinks` (DRAC wheelhouses, nodes without internet). @default false */
    noIndex: z.boolean().default(false),
    /** `virtualenv --no-download`: pip comes from virtualenv's bundled wheels (venv never downloads). @default false */
    noDownload: z.boolean().default(false),
    /** The acceptance check run after a build: imports, and versions printed. @default none */
    smoke: SmokeSchema.optional(),
    /** Where the environment lives on the target. @default `<stack folder>/envs/<address>` for `login`, `$<scratchVar>/envs/<address>` otherwise */
    location: TargetPathSchema.optional(),
    /** Where it is built: `login` (once, by apply), `job` (in each job, node-local), `per-node` (in each job, on every node). @default 'login' */
    build: BuildPlaceSchema.default('login'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.noDownload && p.tool !== 'virtualenv') {
      ctx.addIssue({
        code: 'custom',
        path: ['noDownload'],
        message: "applies to tool 'virtualenv' only (venv never downloads)",
        input: p.noDownload,
      });
    }
    if (p.noIndex && p.findLinks.length === 0 && (p.requirements.length > 0 || p.pipOnly.length > 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['findLinks'],
        message: 'noIndex needs at least one findLinks folder to install from',
        input: p.findLinks,
      });
    }
    if (
      p.build === 'login' &&
      p.location !== undefined &&
      isRuntimeRef(p.location) &&
      /TMPDIR$/.test(p.location.variable)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['location'],
        message: "a login-built environment cannot live in job scratch; use build: 'job'",
        input: String(p.location),
      });
    }
  });

export type PythonEnvProps = z.input<typeof PythonEnvPropsSchema>;

/**
 * A Python virtual environment (venv or virtualenv) from pinned
 * requirements: rendered as requirements.txt, requirements-pip.txt,
 * bootstrap.sh and smoke.sh, built where `build` says, recorded with
 * `pip freeze` and checked for drift by plan. Give it to a Job as
 * `environment`.
 */
export class PythonEnv extends Environment<typeof PythonEnvPropsSchema> {
  public readonly kind = ResourceKind.pythonEnv;

  constructor(scope: Construct, id: string, props: PythonEnvProps) {
    super(scope, id, PythonEnvPropsSchema, props);
  }

  public readonly freezeCommand = 'python -m pip freeze';

  protected activationLines(location: ShellValue): string[] {
    return venvActivateLines(location);
  }

  /** The interpreter that creates the environment. */
  public get interpreter(): string {
    return (
      this.props.interpreter ??
      (this.props.python !== undefined ? `python${this.props.python.split('.').slice(0, 2).join('.')}` : 'python3')
    );
  }

  private wheelhouses(): Wheelhouse[] {
    return this.props.findLinks.filter((f): f is Wheelhouse => f instanceof Wheelhouse);
  }

  private findLinkValues(): ShellValue[] {
    return this.props.findLinks.map((f) => (f instanceof Wheelhouse ? f.location : f));
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const p = this.props;
    const envDir = this.location(ctx);
    const requirements = requirementLines(p.requirements);
    const pipOnly = requirementLines(p.pipOnly);
    const header = [
      `${this.node.path} on target ${ctx.target.name}`,
      'Rendered by hpcdk; edit the stack, not this file.',
    ];
    const sources = {
      indexUrls: p.indexUrls,
      extraIndexUrls: p.extraIndexUrls,
      findLinks: this.findLinkValues(),
      noIndex: p.noIndex,
    };
    const artifacts: ArtifactSpec[] = [];
    if (requirements.length > 0) {
      artifacts.push({
        path: 'requirements.txt',
        kind: 'requirements',
        content: renderRequirementsFile(`${this.node.path}: pinned requirements (rendered by hpcdk).`, requirements),
      });
    }
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
      content: renderVenvBootstrap({
        header,
        setup: shellSetupFor(ctx.target, p.modules),
        envDir,
        create: { tool: p.tool, interpreter: this.interpreter, noDownload: p.noDownload },
        sources,
        ...(requirements.length > 0 ? { requirementsFile: deployedFile(this.address, 'requirements.txt') } : {}),
        requirementCount: requirements.length,
        ...(pipOnly.length > 0 ? { pipOnlyFile: deployedFile(this.address, 'requirements-pip.txt') } : {}),
        pipOnlyCount: pipOnly.length,
        envInfo: deployedFile(this.address, 'env-info.py'),
      }),
    });
    if (p.smoke) {
      artifacts.push({
        path: 'smoke.sh',
        kind: 'script',
        executable: true,
        content: renderSmoke({
          header,
          envDir,
          imports: p.smoke.imports,
          versions: p.smoke.versions,
          address: this.address,
        }),
      });
    }
    artifacts.push({ path: 'env-info.py', kind: 'file', content: ENV_INFO_PY });

    const python = word(pathBelow(envDir, 'bin', 'python'));
    const build: BuildSpec = {
      script: `${this.address}/bootstrap.sh`,
      ...(p.smoke ? { check: `${this.address}/smoke.sh` } : {}),
      lock: `${python} -m pip freeze && ${python} ${word(deployedFile(this.address, 'env-info.py'))} lock`,
    };
    return {
      artifacts,
      resources: [
        {
          kind: this.kind,
          // The normalised declaration: sorted, canonical names, so reordering changes nothing.
          inputs: {
            python: p.python ?? null,
            interpreter: this.interpreter,
            tool: p.tool,
            modules: p.modules,
            requirements,
            pipOnly,
            sources: pipSourceWords(sources),
            location: String(envDir),
            build: p.build,
          },
          dependsOn: this.wheelhouses(),
          spec: {
            // What the drift check compares the recorded freeze with.
            python: { requirements, pipOnly },
            ...(p.build === 'login' ? { build } : {}),
          },
        },
      ],
    };
  }
}
