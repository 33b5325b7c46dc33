import { comment } from '../shell/index.js';
import {
  buildStepCommands,
  formatImageReference,
  renderShellCommand,
  sortedEntries,
  type ImageRenderContext,
  type ImageSpec,
  type ImageStage,
} from './image-spec.js';

/**
 * A value in Dockerfile syntax (ENV, LABEL): double-quoted, with the three
 * characters Docker's word processing treats specially escaped, so `$HOME`
 * stays those five bytes rather than being expanded by the builder.
 */
export function dockerfileString(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** The exec (JSON) form of ENTRYPOINT, CMD and COPY: no shell, no quoting surprises. */
function execForm(values: readonly string[]): string {
  return JSON.stringify(values);
}

function renderStage(stage: ImageStage, named: boolean, labels: ReadonlyArray<[string, string]>): string[] {
  const lines = [`FROM ${formatImageReference(stage.from)}${named && stage.name ? ` AS ${stage.name}` : ''}`];
  // Labels first, so every layer built on them (even of a build that fails) says who made it.
  if (labels.length > 0)
    lines.push(`LABEL ${labels.map(([k, v]) => `${dockerfileString(k)}=${dockerfileString(v)}`).join(' ')}`);
  // ENV holds for the build steps below and at run time.
  const env = sortedEntries(stage.env);
  if (env.length > 0) lines.push(`ENV ${env.map(([name, value]) => `${name}=${dockerfileString(value)}`).join(' ')}`);
  if (stage.workdir !== undefined) lines.push(`WORKDIR ${stage.workdir}`);
  for (const step of stage.steps) {
    if (step.kind === 'copy') {
      lines.push(
        `COPY ${step.fromStage !== undefined ? `--from=${step.fromStage} ` : ''}${execForm([step.source, step.destination])}`,
      );
    } else {
      for (const command of buildStepCommands(step)) lines.push(`RUN ${command}`);
    }
  }
  return lines;
}

/**
 * Renders the Dockerfile of an image. Pure. The smoke test is the last build
 * step, one `RUN` per command, so a failing test fails `docker build` and
 * `podman build` where running a container is not possible.
 */
export function renderDockerfile(spec: ImageSpec, ctx: ImageRenderContext): string {
  // A Dockerfile comment is written as a shell comment is.
  const lines: string[] = [comment(ctx.header.join('\n'))];
  const multiStage = spec.stages.length > 1;
  spec.stages.forEach((stage, i) => {
    const final = i === spec.stages.length - 1;
    lines.push('', ...renderStage(stage, multiStage, final ? sortedEntries(spec.labels) : []));
    if (!final) return;
    if (spec.test.length > 0)
      lines.push(
        '# Smoke test: a failing command fails the build.',
        ...spec.test.map((t) => `RUN ${renderShellCommand(t)}`),
      );
    if (spec.entrypoint !== undefined) lines.push(`ENTRYPOINT ${execForm(spec.entrypoint)}`);
    if (spec.cmd !== undefined) lines.push(`CMD ${execForm(spec.cmd)}`);
  });
  return `${lines.join('\n')}\n`;
}
