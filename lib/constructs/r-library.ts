import type { Construct } from 'constructs';
import { z } from 'zod';
import type { ConstructOutput, SynthContext } from '../core/hpc-construct.js';
import type { ArtifactSpec } from '../core/output.js';
import { deployedFile } from '../core/runtime.js';
import {
  pinLine,
  R_INSTALL_PROGRAM,
  R_LOCK_PROGRAM,
  renderRBootstrap,
  renderRPackagesFile,
  renderRSmoke,
  rFreezeCommand,
  rLibraryActivateLines,
  rLockCommand,
  sortPins,
  type RPackagePin,
  type RSources,
} from '../render/r-library.js';
import { isRuntimeRef, RuntimeRef, type ShellValue } from '../shell/index.js';
import { Environment } from './environment.js';
import {
  BuildPlaceSchema,
  IndexUrlSchema,
  ModuleNameSchema,
  shellSetupFor,
  TargetPathSchema,
} from './python-common.js';
import { ShellValueSchema } from './schemas.js';
import { ResourceKind, type BuildSpec } from '../core/resource-spec.js';

/** R's rule for package names: letters, digits and dots, starting with a letter, not ending with a dot, two characters at least. */
const R_PACKAGE_NAME = /^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$/;
/** R's rule for package versions: two or more integers separated by `.` or `-` (`1.14.8`, `7.3-60`). */
const R_PACKAGE_VERSION = /^\d+(?:[.-]\d+)+$/;

const NAME_MESSAGE = 'must be an R package name such as data.table (letters, digits and dots, starting with a letter)';
const VERSION_MESSAGE = 'must be an R package version such as 1.14.8 or 7.3-60';

/** What users write for `packages`: `{ 'data.table': '1.14.8' }` or `['data.table==1.14.8']`. */
type PackagesInput = Readonly<Record<string, string>> | readonly string[];

/** The pins a valid `packages` value declares, sorted by name. */
function pinsOf(packages: PackagesInput): RPackagePin[] {
  const pins = isStringList(packages)
    ? packages.map((text) => ({ name: text.slice(0, text.indexOf('==')), version: text.slice(text.indexOf('==') + 2) }))
    : Object.entries(packages).map(([name, version]) => ({ name, version }));
  return sortPins(pins);
}

function isStringList(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((x) => typeof x === 'string');
}

function isStringRecord(value: unknown): value is Readonly<Record<string, string>> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !isRuntimeRef(value) &&
    Object.values(value).every((x) => typeof x === 'string')
  );
}

/** Both forms checked by hand, so each bad pin is reported at its own key or index with R's rules. */
const PackagesSchema = z
  .custom<PackagesInput>((v) => isStringList(v) || isStringRecord(v), {
    message: "must be { name: version } or a list of 'name==version'",
  })
  .superRefine((packages, ctx) => {
    if (Object.keys(packages).length === 0)
      ctx.addIssue({ code: 'custom', message: 'declares no packages', input: packages });
    if (isStringList(packages)) {
      const seen = new Map<string, number>();
      packages.forEach((text, i) => {
        const m = /^([^=]*)==(.*)$/.exec(text);
        let message: string | undefined;
        if (!m) message = "must pin a version as name==version (e.g. 'data.table==1.14.8')";
        else if (!R_PACKAGE_NAME.test(m[1]!)) message = NAME_MESSAGE;
        else if (!R_PACKAGE_VERSION.test(m[2]!)) message = VERSION_MESSAGE;
        else if (seen.has(m[1]!)) message = `names ${m[1]} again (first at [${seen.get(m[1]!)}])`;
        else seen.set(m[1]!, i);
        if (message) ctx.addIssue({ code: 'custom', path: [i], message, input: text });
      });
      return;
    }
    for (const [name, version] of Object.entries(packages)) {
      if (!R_PACKAGE_NAME.test(name))
        ctx.addIssue({ code: 'custom', path: [name], message: NAME_MESSAGE, input: name });
      else if (!R_PACKAGE_VERSION.test(version))
        ctx.addIssue({ code: 'custom', path: [name], message: VERSION_MESSAGE, input: version });
    }
  })
  .transform(pinsOf);

/** A folder on the target: absolute, `$VAR/…` (expanded there; `~` does not expand inside quotes), or a RuntimeRef. */
const RepoPathSchema = ShellValueSchema.superRefine((path, ctx) => {
  if (typeof path === 'string' && !path.startsWith('/') && RuntimeRef.parse(path) === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: "must be an absolute path, a path below a variable ('$HOME/rrepo') or a RuntimeRef",
      input: path,
    });
  }
}).transform((path): ShellValue => (typeof path === 'string' ? (RuntimeRef.parse(path) ?? path) : path));

export const RLibraryPropsSchema = z
  .object({
    /** The R release the library is for (`4.3`, `4.3.1`); the build fails when the Rscript it finds is another. @default any */
    r: z
      .string()
      .regex(/^\d+\.\d+(?:\.\d+)?$/, 'must be an R version such as 4.3 or 4.3.1')
      .optional(),
    /** Modules loaded before R is used, e.g. `['gcc', 'r/4.3.1']` (DRAC). @default none */
    modules: z.array(ModuleNameSchema).default([]),
    /** Pinned packages: `{ 'data.table': '1.14.8' }` or `['data.table==1.14.8']`. Versions as the package's DESCRIPTION spells them. */
    packages: PackagesSchema,
    /** CRAN-like repository URLs. A pin older than the repository's current version is fetched from `src/contrib/Archive/`. Give this or `localRepo`. */
    repos: z.array(IndexUrlSchema).min(1, 'needs at least one repository URL').optional(),
    /** A local repository of source tarballs on the target (`src/contrib/` with a PACKAGES index), for nodes without internet: `'$HOME/rrepo'` or a RuntimeRef. Give this or `repos`. */
    localRepo: RepoPathSchema.optional(),
    /** Load every package after each build (smoke.sh). @default true */
    smoke: z.boolean().default(true),
    /** The library folder on the target. @default `<stack folder>/envs/<address>` for `login`, `$<scratchVar>/envs/<address>` otherwise */
    location: TargetPathSchema.optional(),
    /** Where it is built: `login` (once, by apply), `job` (in each job, node-local), `per-node` (in each job, on every node). @default 'login' */
    build: BuildPlaceSchema.default('login'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.repos === undefined && p.localRepo === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['repos'],
        message: 'needs repos (repository URLs) or localRepo (a local repository of source tarballs)',
        input: undefined,
      });
    }
    if (p.repos !== undefined && p.localRepo !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['localRepo'],
        message: 'give either repos or localRepo, not both',
        input: String(p.localRepo),
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
        message: "a login-built library cannot live in job scratch; use build: 'job'",
        input: String(p.location),
      });
    }
  });

export type RLibraryProps = z.input<typeof RLibraryPropsSchema>;

/**
 * A library of pinned R packages (`R_LIBS`), installed from CRAN-like
 * repositories or from a local repository of source tarballs: rendered as
 * packages.txt, an idempotent bootstrap.sh, smoke.sh (loads every package)
 * and install.R / lock.R, built where `build` says, recorded as
 * `name==version` lines and checked for drift by plan. Give it to a Job as
 * `environment`: the job loads the modules and sets R_LIBS_USER and R_LIBS.
 */
export class RLibrary extends Environment<typeof RLibraryPropsSchema> {
  public readonly kind = ResourceKind.rLibrary;

  constructor(scope: Construct, id: string, props: RLibraryProps) {
    super(scope, id, RLibraryPropsSchema, props);
  }

  public get freezeCommand(): string {
    return rFreezeCommand(deployedFile(this.address, 'lock.R'));
  }

  protected activationLines(location: ShellValue): string[] {
    return rLibraryActivateLines(location);
  }

  /** The environments' job prologue, its comments naming what this is. */
  public override jobPrologue(ctx: SynthContext): string[] {
    return super
      .jobPrologue(ctx)
      .map((line) => (line.startsWith('# hpcdk: ') ? line.replace('Python environment', 'R library') : line));
  }

  private sources(): RSources {
    return this.props.localRepo !== undefined
      ? { kind: 'local', path: this.props.localRepo }
      : { kind: 'repos', urls: this.props.repos ?? [] };
  }

  public synthesize(ctx: SynthContext): ConstructOutput {
    const p = this.props;
    const libDir = this.location(ctx);
    const pins = p.packages;
    const lines = pins.map(pinLine);
    const setup = shellSetupFor(ctx.target, p.modules);
    const header = [
      `${this.node.path} on target ${ctx.target.name}`,
      'Rendered by hpcdk; edit the stack, not this file.',
    ];
    const sources = this.sources();
    const artifacts: ArtifactSpec[] = [
      {
        path: 'packages.txt',
        kind: 'requirements',
        content: renderRPackagesFile(`${this.node.path}: pinned R packages (rendered by hpcdk).`, pins),
      },
      { path: 'install.R', kind: 'file', content: R_INSTALL_PROGRAM },
      { path: 'lock.R', kind: 'file', content: R_LOCK_PROGRAM },
      {
        path: 'bootstrap.sh',
        kind: 'script',
        executable: true,
        content: renderRBootstrap({
          header,
          setup,
          libDir,
          sources,
          ...(p.r !== undefined ? { rVersion: p.r } : {}),
          installProgram: deployedFile(this.address, 'install.R'),
          packagesFile: deployedFile(this.address, 'packages.txt'),
          packageCount: pins.length,
        }),
      },
    ];
    if (p.smoke) {
      artifacts.push({
        path: 'smoke.sh',
        kind: 'script',
        executable: true,
        content: renderRSmoke({ header, setup, libDir, packages: pins.map((x) => x.name), address: this.address }),
      });
    }
    const build: BuildSpec = {
      script: `${this.address}/bootstrap.sh`,
      ...(p.smoke ? { check: `${this.address}/smoke.sh` } : {}),
      lock: rLockCommand(setup, deployedFile(this.address, 'lock.R'), libDir),
      describe: true,
    };
    return {
      artifacts,
      resources: [
        {
          kind: this.kind,
          // The normalised declaration: sorted pins, so reordering or switching between the record and list forms changes nothing.
          inputs: {
            r: p.r ?? null,
            modules: p.modules,
            packages: lines,
            sources: sources.kind === 'local' ? { localRepo: String(sources.path) } : { repos: sources.urls },
            location: String(libDir),
            build: p.build,
          },
          spec: {
            // What the drift check compares the recorded lock with.
            r: { packages: lines },
            ...(p.build === 'login' ? { build } : {}),
          },
        },
      ],
    };
  }
}
