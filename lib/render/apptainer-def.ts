import { comment, exportLine, word, words } from '../shell/index.js';
import {
  buildStepCommands,
  formatImageReference,
  isScratch,
  renderShellCommand,
  sortedEntries,
  type ImageRenderContext,
  type ImageSpec,
  type ImageStage,
} from './image-spec.js';

const INDENT = '    ';

function section(name: string, body: readonly string[]): string[] {
  return body.length === 0 ? [] : ['', name, ...body.map((l) => (l === '' ? '' : `${INDENT}${l}`))];
}

/** Where the container's process starts, as Docker's WORKDIR does: Apptainer itself keeps the host's folder. */
function enterWorkdir(stage: ImageStage): string[] {
  return stage.workdir !== undefined ? [`cd -- ${word(stage.workdir)}`] : [];
}

/**
 * `%runscript` with Docker's ENTRYPOINT/CMD semantics: arguments given to
 * `apptainer run` replace CMD and are appended to ENTRYPOINT.
 */
function runscript(spec: ImageSpec, stage: ImageStage): string[] {
  if (spec.entrypoint === undefined && spec.cmd === undefined) return [];
  const lines = [...enterWorkdir(stage)];
  if (spec.cmd !== undefined) lines.push(`if [ "$#" -eq 0 ]; then set -- ${words(spec.cmd)}; fi`);
  lines.push(spec.entrypoint !== undefined ? `exec ${words(spec.entrypoint)} "$@"` : 'exec "$@"');
  return lines;
}

function renderStage(spec: ImageSpec, stage: ImageStage, final: boolean, named: boolean): string[] {
  const lines = isScratch(stage.from)
    ? ['Bootstrap: scratch']
    : ['Bootstrap: docker', `From: ${formatImageReference(stage.from)}`];
  if (named && stage.name !== undefined) lines.push(`Stage: ${stage.name}`);

  // %files are copied before %post runs, whatever order the steps were written in.
  const fromContext = stage.steps.flatMap((s) =>
    s.kind === 'copy' && s.fromStage === undefined ? [`${s.source} ${s.destination}`] : [],
  );
  lines.push(...section('%files', fromContext));
  const fromStages = [
    ...new Set(stage.steps.flatMap((s) => (s.kind === 'copy' && s.fromStage !== undefined ? [s.fromStage] : []))),
  ];
  for (const from of fromStages) {
    lines.push(
      ...section(
        `%files from ${from}`,
        stage.steps.flatMap((s) => (s.kind === 'copy' && s.fromStage === from ? [`${s.source} ${s.destination}`] : [])),
      ),
    );
  }

  // %environment is sourced only when the container runs; the build sees the
  // same variables because %post exports them too.
  const env = sortedEntries(stage.env).map(([name, value]) => exportLine(name, value));
  lines.push(...section('%environment', env));
  const post = [...env];
  if (stage.workdir !== undefined) post.push(`mkdir -p -- ${word(stage.workdir)}`, ...enterWorkdir(stage));
  for (const step of stage.steps) if (step.kind !== 'copy') post.push(...buildStepCommands(step));
  lines.push(...section('%post', post));

  if (!final) return lines;
  lines.push(
    ...section(
      '%labels',
      sortedEntries(spec.labels).map(([k, v]) => `${k} ${v}`),
    ),
  );
  lines.push(
    ...section(
      '%test',
      spec.test.length > 0 ? ['set -e', ...enterWorkdir(stage), ...spec.test.map(renderShellCommand)] : [],
    ),
  );
  lines.push(...section('%runscript', runscript(spec, stage)));
  return lines;
}

/**
 * Renders the Apptainer/Singularity definition file of an image. Pure.
 * Multi-stage images get a `Stage:` header per stage; `%test` runs at the end
 * of `apptainer build`, so a failing smoke test fails the build here too.
 */
export function renderApptainerDef(spec: ImageSpec, ctx: ImageRenderContext): string {
  const out: string[] = [comment(ctx.header.join('\n'))];
  const named = spec.stages.length > 1;
  spec.stages.forEach((stage, i) => {
    out.push('', ...renderStage(spec, stage, i === spec.stages.length - 1, named));
  });
  return `${out.join('\n')}\n`;
}
