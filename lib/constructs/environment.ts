import type { Construct } from 'constructs';
import type { z } from 'zod';
import { HpcConstruct, type SynthContext } from '../core/hpc-construct.js';
import { deployedFile, markJobRuntime, type JobRuntime } from '../core/runtime.js';
import { renderJobEnvPrologue } from '../render/python-env.js';
import type { ShellValue } from '../shell/index.js';
import { defaultLocation, shellSetupFor, type BuildPlace } from './python-common.js';
import type { ResourceKind } from '../core/resource-spec.js';

/** The props every environment has, whatever builds it. */
interface EnvironmentProps {
  readonly modules: readonly string[];
  readonly build: BuildPlace;
  readonly location?: ShellValue;
  readonly smoke?: unknown;
}

/**
 * What PythonEnv and CondaEnv share: where they live, how a job builds or
 * activates them, their smoke check as a job step. Each says how to activate
 * itself and how to list its packages.
 */
export abstract class Environment<S extends z.ZodType = z.ZodType> extends HpcConstruct<S> implements JobRuntime {
  /** Prints the environment's packages, for locks and the freeze next to each run's logs. */
  public abstract readonly freezeCommand: string;
  /** The kind of resource it declares (`python-env`, `conda-env`, `r-library`). */
  public abstract override readonly kind: ResourceKind;

  protected constructor(scope: Construct, id: string, schema: S, props: z.input<S>) {
    super(scope, id, schema, props);
    markJobRuntime(this);
  }

  private get env(): EnvironmentProps {
    return this.props as EnvironmentProps;
  }

  /** Lines that activate the environment at `location`. */
  protected abstract activationLines(location: ShellValue): string[];

  /** Where the environment is on `ctx`'s target, as scripts see it. */
  public location(ctx: SynthContext): ShellValue {
    return this.env.location ?? defaultLocation(ctx.target, this.env.build, this.kind, this.address);
  }

  /**
   * A job step that runs the smoke check: put it first in `run` to check a
   * login-built environment on the compute node (job and per-node builds
   * already run it after building).
   */
  public smokeStep(): ShellValue[] {
    if (!this.env.smoke) this.addIssue('smoke', 'smokeStep() is used, but no smoke check is declared');
    return ['bash', deployedFile(this.address, 'smoke.sh')];
  }

  public jobPrologue(ctx: SynthContext): string[] {
    return renderJobEnvPrologue({
      address: this.address,
      build: this.env.build,
      setup: shellSetupFor(ctx.target, this.env.modules),
      activate: this.activationLines(this.location(ctx)),
      bootstrap: deployedFile(this.address, 'bootstrap.sh'),
      ...(this.env.smoke ? { smoke: deployedFile(this.address, 'smoke.sh') } : {}),
      hasSrun: !ctx.target.isLocal,
    });
  }
}
