import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { sha256 } from '../core/digest.js';
import { HpcConstruct, type ConstructOutput, type SynthContext } from '../core/hpc-construct.js';
import type { ArtifactSpec } from '../core/output.js';
import { markJobRuntime, STACK_DIR, type JobRuntime, type JobShape } from '../core/runtime.js';
import { rawPropIssues, type ValidationIssue } from '../core/validation.js';
import { renderApptainerDef } from '../render/apptainer-def.js';
import { renderDockerfile } from '../render/dockerfile.js';
import {
  renderImageBuildScript,
  renderImageCheckScript,
  renderImageLockScript,
  renderImageRunFunction,
  wrapImageStep,
  type ImageBuildSpec,
} from '../render/image-build.js';
import {
  parseImageReference,
  type ImageReference,
  type ImageSpec,
  type ImageStage,
  type ImageStep,
} from '../render/image-spec.js';
import { isEnvName, type RuntimeRef, words } from '../shell/index.js';
import { ShellValueSchema } from './schemas.js';
import { ResourceKind, type BuildSpec } from '../core/resource-spec.js';
import { IMAGES_DIR } from '../state/layout.js';

/** Copied files become artifacts (text, in the snapshot): keep them small. */
const MAX_COPIED_FILE_BYTES = 1024 * 1024;
const SAFE_SEGMENT = /^[A-Za-z0-9._+@=-]+$/;

const oneLine = z.string().refine((s) => !/[\r\n]/.test(s), 'must be one line');
const absolutePath = z
  .string()
  .regex(/^\/[A-Za-z0-9._+@=/-]*$/, 'must be an absolute path of plain characters (letters, digits, . _ + @ = - /)');
const contextPath = z
  .string()
  .refine(
    (p) => p.split('/').every((s) => SAFE_SEGMENT.test(s) && s !== '.' && s !== '..'),
    'must be a relative path inside the project, of plain characters, without . or .. segments',
  );
const stageName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'must be a stage name: lowercase letters, digits, _ and -');
const imageReference = z.string().superRefine((text, ctx) => {
  const parsed = parseImageReference(text);
  if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem, input: text });
});
const shellCommand = z.union([
  oneLine.min(1, 'a command must not be empty'),
  z.array(oneLine).min(1, 'a command needs at least one word'),
]);
const argList = z.array(oneLine).default([]);

export const ImageStepSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('apt'),
      packages: z
        .array(
          z
            .string()
            .regex(/^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$/, 'must be a Debian package name, optionally =version'),
        )
        .min(1, 'name at least one package'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('pip'),
      requirements: z.array(oneLine.min(1)).min(1, 'name at least one requirement'),
      python: z
        .string()
        .regex(/^[A-Za-z0-9._/-]+$/, 'must be a program name or path')
        .default('python3'),
      args: argList,
    })
    .strict(),
  z
    .object({
      kind: z.literal('copy'),
      /** A file relative to the project folder, or an absolute path in stage `fromStage`. */
      source: z.string().min(1),
      destination: absolutePath,
      fromStage: stageName.optional(),
    })
    .strict()
    .superRefine((c, ctx) => {
      const check = c.fromStage === undefined ? contextPath : absolutePath;
      const r = check.safeParse(c.source);
      if (!r.success)
        ctx.addIssue({ code: 'custom', path: ['source'], message: r.error.issues[0]!.message, input: c.source });
    }),
  z.object({ kind: z.literal('run'), commands: z.array(shellCommand).min(1, 'name at least one command') }).strict(),
]);

export type ImageStepInput = z.input<typeof ImageStepSchema>;

/** HPCCM-style building blocks: each returns one step of an image, rendered into both the Dockerfile and the .def. */
export const ImageBlock = {
  /** System packages with apt (Debian and Ubuntu bases). */
  apt: (packages: string[]): ImageStepInput => ({ kind: 'apt', packages }),
  /**
   * Python requirements with pip. A PythonEnv's lock will feed this same
   * block (its pinned requirements), so images and environments install
   * Python packages one way.
   */
  pip: (requirements: string[], options: { python?: string; args?: string[] } = {}): ImageStepInput => ({
    kind: 'pip',
    requirements,
    ...options,
  }),
  /** A file of the project (relative to the project folder) copied into the image. */
  copy: (source: string, destination: string): ImageStepInput => ({ kind: 'copy', source, destination }),
  /** A path built in an earlier stage, copied into this one. */
  copyFromStage: (stage: string, source: string, destination: string): ImageStepInput => ({
    kind: 'copy',
    fromStage: stage,
    source,
    destination,
  }),
  /** Commands run at build time: a string is shell as written, an array one command whose words are quoted. */
  run: (...commands: Array<string | string[]>): ImageStepInput => ({ kind: 'run', commands }),
} as const;

/** Labels hpcdk sets on every image, so images it made can be listed (`podman images --filter label=created_by=hpcdk`). */
const RESERVED_LABELS = ['created_by', 'hpcdk.stack', 'hpcdk.address'] as const;

const envSchema = z.record(z.string().refine(isEnvName, 'must be an environment variable name'), oneLine).default({});

const StageSchema = z
  .object({
    name: stageName,
    /** The base: `name:tag`, optionally `@sha256:<digest>`; or `scratch`. */
    from: imageReference,
    env: envSchema,
    workdir: absolutePath.optional(),
    steps: z.array(ImageStepSchema).default([]),
  })
  .strict();

export const ContainerImagePropsSchema = z
  .object({
    /** The base image: `name:tag`, optionally pinned by `@sha256:<digest>`; or `scratch`. */
    from: imageReference,
    /** What is done on top of the base, in order: `ImageBlock.apt(…)`, `.pip(…)`, `.copy(…)`, `.run(…)`. */
    steps: z.array(ImageStepSchema).default([]),
    /** Earlier stages (builders) whose results `ImageBlock.copyFromStage` takes. @default none: one stage */
    stages: z.array(StageSchema).default([]),
    /** The final stage's name when there are earlier stages. @default `final` */
    stageName: stageName.default('final'),
    /** Variables set for the build and at run time. */
    env: envSchema,
    /** Created; the folder build steps and the container's process run in. */
    workdir: absolutePath.optional(),
    /** ENTRYPOINT, and the start of `%runscript`'s command. */
    entrypoint: z.array(oneLine).min(1).optional(),
    /** CMD: the default arguments, replaced by those given to `run`. */
    cmd: z.array(oneLine).min(1).optional(),
    /** Labels; `created_by=hpcdk`, `hpcdk.stack` and `hpcdk.address` are always added. */
    labels: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'must be a label key of plain characters'), oneLine)
      .default({}),
    /** A smoke test, run as the last build step (Dockerfile `RUN`, `.def` `%test`) and in a built `.sif`. */
    test: z.array(shellCommand).default([]),
    /** The built image's local name. @default `localhost/hpcdk-<stack>-<address>` */
    imageName: z
      .string()
      .regex(/^localhost\/[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'must be localhost/<lowercase name>')
      .optional(),
    /** Folders bound into the container for jobs, at the same path (data). The stack folder and node-local scratch always are. */
    binds: z.array(ShellValueSchema).default([]),
    /**
     * Options for podman on the target, e.g. `{ globalArgs: ['--storage-driver', 'vfs'], buildArgs: ['--isolation', 'chroot'],
     * runArgs: ['--runtime', 'runc'] }` where the site's containers.conf does not already say so.
     * @default none; `gpuArgs` defaults to `['--device', 'nvidia.com/gpu=all']` (CDI)
     */
    podman: z
      .object({
        globalArgs: argList,
        buildArgs: argList,
        runArgs: argList,
        gpuArgs: z.array(oneLine).default(['--device', 'nvidia.com/gpu=all']),
      })
      .strict()
      .default({ globalArgs: [], buildArgs: [], runArgs: [], gpuArgs: ['--device', 'nvidia.com/gpu=all'] }),
    /** Options for apptainer: `buildArgs` (`--fakeroot`), `execArgs` (`--cleanenv`). @default none */
    apptainer: z.object({ buildArgs: argList, execArgs: argList }).strict().default({ buildArgs: [], execArgs: [] }),
  })
  .strict()
  .superRefine((p, ctx) => {
    const earlier = new Set<string>();
    const checkCopies = (steps: ReadonlyArray<z.output<typeof ImageStepSchema>>, path: PropertyKey[]) =>
      steps.forEach((s, i) => {
        if (s.kind === 'copy' && s.fromStage !== undefined && !earlier.has(s.fromStage)) {
          ctx.addIssue({
            code: 'custom',
            path: [...path, i, 'fromStage'],
            message: `is not an earlier stage (stages: ${[...earlier].join(', ') || 'none'})`,
            input: s.fromStage,
          });
        }
      });
    p.stages.forEach((stage, i) => {
      checkCopies(stage.steps, ['stages', i, 'steps']);
      if (earlier.has(stage.name) || stage.name === p.stageName)
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'name'], message: 'names two stages', input: stage.name });
      earlier.add(stage.name);
    });
    checkCopies(p.steps, ['steps']);
    for (const key of RESERVED_LABELS) {
      if (key in p.labels)
        ctx.addIssue({
          code: 'custom',
          path: ['labels', key],
          message: 'is set by hpcdk (the image says who made it, from which stack and address)',
          input: p.labels[key],
        });
    }
  });

export type ContainerImageProps = z.input<typeof ContainerImagePropsSchema>;
type ResolvedProps = z.output<typeof ContainerImagePropsSchema>;

/** A project file copied into the image: read at construct time, carried as an artifact of the build context. */
interface CopiedFile {
  readonly source: string;
  readonly content: string;
  readonly sha256: string;
}

const CONTEXT_DIR = 'context';

/**
 * A container image, described once and rendered as a Dockerfile and an
 * Apptainer `.def`; apply builds it on the target with what exists there
 * (podman or docker, converted to a `.sif` where Apptainer runs jobs, or the
 * `.def` built directly) and records its digest. A Job with `image:` runs its
 * steps inside it.
 */
export class ContainerImage extends HpcConstruct<typeof ContainerImagePropsSchema> implements JobRuntime {
  public readonly kind = ResourceKind.containerImage;
  private readonly extraSteps: Array<z.output<typeof ImageStepSchema>> = [];
  private entrypointOverride?: readonly string[];
  /** Project files copied into the image, read at synth from the project folder. */
  private copied = new Map<string, CopiedFile>();
  private copiedFrom?: string;

  constructor(scope: Construct, id: string, props: ContainerImageProps) {
    super(scope, id, ContainerImagePropsSchema, props);
    markJobRuntime(this);
  }

  /** Every copy step, with the field that declared it, for messages. */
  private copySteps(): Array<{ step: z.output<typeof ImageStepSchema>; field: string }> {
    return [
      ...this.props.steps.map((step, i) => ({ step, field: `steps[${i}]` })),
      ...this.props.stages.flatMap((stage, j) =>
        stage.steps.map((step, i) => ({ step, field: `stages[${j}].steps[${i}]` })),
      ),
      ...this.extraSteps.map((step, i) => ({ step, field: `addSteps[${i}]` })),
    ];
  }

  /** Reads the copied files from `projectDir` (once per folder); returns what is wrong with them. */
  private readCopiedFiles(projectDir: string): ValidationIssue[] {
    if (this.copiedFrom === projectDir) return [];
    this.copied = new Map();
    this.copiedFrom = projectDir;
    return this.copySteps().flatMap(({ step, field }) => this.readCopiedFile(projectDir, step, field));
  }

  public override validateForTarget(ctx: SynthContext): ValidationIssue[] {
    this.copiedFrom = undefined;
    return this.readCopiedFiles(ctx.projectDir);
  }

  /** Adds steps to the final stage, after those given in the props. */
  public addSteps(...steps: ImageStepInput[]): this {
    steps.forEach((step, k) => {
      const field = `addSteps[${this.extraSteps.length + k}]`;
      const raw = rawPropIssues(this.node.path, step, ['addSteps', this.extraSteps.length + k]);
      if (raw.length > 0) {
        for (const issue of raw) this.addIssue(issue.field, issue.message, issue.got);
        return;
      }
      const parsed = ImageStepSchema.safeParse(step);
      if (!parsed.success) {
        this.addIssue(field, parsed.error.issues[0]!.message, step);
        return;
      }
      const from = parsed.data.kind === 'copy' ? parsed.data.fromStage : undefined;
      if (from !== undefined && !this.props.stages?.some((s) => s.name === from)) {
        this.addIssue(`${field}.fromStage`, 'is not an earlier stage', from);
        return;
      }
      this.extraSteps.push(parsed.data);
    });
    return this;
  }

  /** Sets the ENTRYPOINT (and `%runscript`'s command). Set it here or in the props, not both. */
  public setEntrypoint(entrypoint: string[]): this {
    if (this.props.entrypoint !== undefined || this.entrypointOverride !== undefined) {
      this.addIssue(
        'entrypoint',
        `is set twice: already ${JSON.stringify(this.entrypointOverride ?? this.props.entrypoint)}`,
        entrypoint,
      );
      return this;
    }
    // The same checks as the prop: a newline would start a line of its own in the .def's %runscript.
    const parsed = z.array(oneLine).min(1).safeParse(entrypoint);
    const problems = [
      ...(parsed.success
        ? []
        : [{ field: 'entrypoint', message: parsed.error.issues[0]!.message, got: entrypoint as unknown }]),
      ...rawPropIssues(this.node.path, entrypoint, ['entrypoint']),
    ];
    if (problems.length > 0) {
      for (const issue of problems) this.addIssue(issue.field, issue.message, issue.got);
      return this;
    }
    this.entrypointOverride = [...entrypoint];
    return this;
  }

  /**
   * Reads one copied project file, relative to the project folder, so a
   * missing file fails synth with this construct's path, and its content
   * hash is one of the image's inputs.
   */
  private readCopiedFile(projectDir: string, step: z.output<typeof ImageStepSchema>, field: string): ValidationIssue[] {
    if (step.kind !== 'copy' || step.fromStage !== undefined || this.copied.has(step.source)) return [];
    const full = resolve(projectDir, step.source);
    let bytes: Buffer;
    try {
      if (!statSync(full).isFile())
        return [this.issue(`${field}.source`, 'is not a file (only files are copied)', step.source)];
      bytes = readFileSync(full);
    } catch {
      return [this.issue(`${field}.source`, 'no such file in the project folder', step.source)];
    }
    const content = bytes.toString('utf8');
    if (
      bytes.length > MAX_COPIED_FILE_BYTES ||
      content.includes('\0') ||
      !Buffer.from(content, 'utf8').equals(bytes) ||
      content.includes('\r')
    ) {
      return [
        this.issue(
          `${field}.source`,
          `must be a text file (UTF-8, LF line endings, at most ${MAX_COPIED_FILE_BYTES} bytes): copied files travel in the snapshot`,
          step.source,
        ),
      ];
    }
    this.copied.set(step.source, { source: step.source, content, sha256: sha256(content) });
    return [];
  }

  /** The image description, as the renderers take it. */
  public imageSpec(): ImageSpec {
    const p: ResolvedProps = this.props;
    const ref = (text: string): ImageReference => {
      const parsed = parseImageReference(text);
      if ('problem' in parsed) throw new Error(`unreachable: ${text} was validated`);
      return parsed.reference;
    };
    const toStep = (s: z.output<typeof ImageStepSchema>): ImageStep =>
      s.kind === 'copy' && s.fromStage === undefined ? { ...s, source: `${CONTEXT_DIR}/${s.source}` } : s;
    const earlier: ImageStage[] = p.stages.map((s) => ({
      name: s.name,
      from: ref(s.from),
      env: s.env,
      ...(s.workdir ? { workdir: s.workdir } : {}),
      steps: s.steps.map(toStep),
    }));
    const final: ImageStage = {
      name: p.stageName,
      from: ref(p.from),
      env: p.env,
      ...(p.workdir ? { workdir: p.workdir } : {}),
      steps: [...p.steps, ...this.extraSteps].map(toStep),
    };
    const entrypoint = this.entrypointOverride ?? p.entrypoint;
    return {
      stages: [...earlier, final],
      labels: { ...p.labels, created_by: 'hpcdk', 'hpcdk.stack': this.stack.stackName, 'hpcdk.address': this.address },
      ...(entrypoint ? { entrypoint } : {}),
      ...(p.cmd ? { cmd: p.cmd } : {}),
      test: p.test,
    };
  }

  /** The built image's local name, without the tag. */
  public get imageName(): string {
    const slug = `${this.stack.stackName}-${this.address}`
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
    return this.props.imageName ?? `localhost/hpcdk-${slug}`;
  }

  /** Where apply puts what it built for this image, below the stack folder on the target. */
  private builtPaths(tag: string): { sif: RuntimeRef; record: RuntimeRef } {
    return {
      sif: STACK_DIR.join(IMAGES_DIR, this.address, `${tag}.sif`),
      record: STACK_DIR.join(IMAGES_DIR, this.address, `${tag}.built-with`),
    };
  }

  private render(ctx: SynthContext): { files: ArtifactSpec[]; build: ImageBuildSpec; tag: string } {
    this.readCopiedFiles(ctx.projectDir);
    const header = [
      `${this.node.path} on target ${ctx.target.name}`,
      'Rendered by hpcdk; edit the stack, not this file.',
    ];
    const spec = this.imageSpec();
    const dockerfile = renderDockerfile(spec, { header });
    const def = renderApptainerDef(spec, { header });
    const context = [...this.copied.values()].sort((a, b) => (a.source < b.source ? -1 : 1));
    // The tag is the image's content: the same files always give the same tag, on any target.
    const tag = `h${sha256([dockerfile, def, ...context.map((c) => `${c.source}\0${c.sha256}`)].join('\0')).slice(0, 16)}`;
    const build: ImageBuildSpec = {
      header,
      runtime: ctx.target.spec.containerRuntime,
      image: `${this.imageName}:${tag}`,
      contextDir: STACK_DIR.join('files', this.address),
      ...this.builtPaths(tag),
      podman: this.props.podman,
      apptainer: this.props.apptainer,
    };
    const files: ArtifactSpec[] = [
      { path: 'Dockerfile', kind: 'dockerfile', content: dockerfile },
      { path: 'image.def', kind: 'apptainer-def', content: def },
      { path: 'build.sh', kind: 'script', content: renderImageBuildScript(build), executable: true },
      { path: 'lock.sh', kind: 'script', content: renderImageLockScript(build), executable: true },
      ...(spec.test.length > 0
        ? [
            {
              path: 'check.sh',
              kind: 'script' as const,
              content: renderImageCheckScript(build, spec.test),
              executable: true,
            },
          ]
        : []),
      ...context.map((c) => ({ path: `${CONTEXT_DIR}/${c.source}`, kind: 'file' as const, content: c.content })),
    ];
    return { files, build, tag };
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const { files, build, tag } = this.render(ctx);
    const spec = this.imageSpec();
    const buildSpec: BuildSpec = {
      script: `${this.address}/build.sh`,
      ...(spec.test.length > 0 ? { check: `${this.address}/check.sh` } : {}),
      lock: words(['bash', `files/${this.address}/lock.sh`]),
      describe: true,
    };
    return {
      artifacts: files,
      resources: [
        {
          kind: this.kind,
          inputs: {
            description: spec,
            copiedFiles: Object.fromEntries([...this.copied.values()].map((c) => [c.source, c.sha256])),
            runtime: ctx.target.spec.containerRuntime,
            podman: this.props.podman,
            apptainer: this.props.apptainer,
          },
          spec: { build: buildSpec, image: build.image, tag },
        },
      ],
    };
  }

  public jobPrologue(ctx: SynthContext, job: JobShape): string[] {
    const { build } = this.render(ctx);
    const gpus = job.gpus > 0;
    const scratchVar = ctx.target.spec.scratchVar;
    const passEnv = [
      ...new Set([
        'HPCDK_STACK_DIR',
        'SLURM_JOB_ID',
        'SLURM_SUBMIT_DIR',
        'SLURM_ARRAY_TASK_ID',
        scratchVar,
        ...(gpus ? ['CUDA_VISIBLE_DEVICES'] : []),
        ...job.envNames,
      ]),
    ];
    return renderImageRunFunction(
      {
        runtime: build.runtime,
        image: build.image,
        sif: build.sif,
        record: build.record,
        binds: [STACK_DIR, ...this.props.binds],
        scratchVar,
        passEnv,
        gpus,
        podman: build.podman,
        apptainer: build.apptainer,
      },
      `hpcdk: the steps below run inside image ${this.address} (${build.runtime === 'none' ? 'the runtime its build recorded' : build.runtime}).`,
    );
  }

  public wrapStep(_ctx: SynthContext, step: string): string {
    return wrapImageStep(step);
  }
}
