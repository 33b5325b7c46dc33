/**
 * The scripts that build an image on a target, record what was built, test
 * it, and run job steps inside it. Pure functions of their spec; every value
 * enters the shell text through lib/shell.
 */
import { STACK_DIR_LINE } from '../core/runtime.js';
import { assignLine, comment, quote, word, words, type RuntimeRef, type ShellValue } from '../shell/index.js';
import { renderShellCommand, type ShellCommand } from './image-spec.js';

export type ContainerRuntime = 'apptainer' | 'singularity' | 'podman' | 'docker' | 'none';

/** Site- or image-level options for the podman command line (storage driver, isolation, OCI runtime). */
export interface PodmanOptions {
  /** Before the subcommand, for every podman call: `--storage-driver vfs`, `--root DIR`. */
  readonly globalArgs: readonly string[];
  /** Added to `podman build`: `--isolation chroot`. */
  readonly buildArgs: readonly string[];
  /** Added to `podman run`: `--runtime runc`. */
  readonly runArgs: readonly string[];
  /** Added to `podman run` when the job asks for GPUs. */
  readonly gpuArgs: readonly string[];
}

export interface ApptainerOptions {
  /** Added to `apptainer build`: `--fakeroot`. */
  readonly buildArgs: readonly string[];
  /** Added to `apptainer exec`: `--cleanenv`, `--containall`. */
  readonly execArgs: readonly string[];
}

/** Everything needed to build one image on one target. */
export interface ImageBuildSpec {
  readonly header: readonly string[];
  /** The target's runtime; `none` builds with whatever exists there. */
  readonly runtime: ContainerRuntime;
  /** The local name of the built image, `localhost/hpcdk-…:<content tag>`. */
  readonly image: string;
  /** The folder holding the Dockerfile, the .def and the copied files. */
  readonly contextDir: RuntimeRef;
  /** Where the `.sif` goes when the target runs images with Apptainer. */
  readonly sif: RuntimeRef;
  /** A file naming what runs the built image (first line) and how it was built (second). */
  readonly record: RuntimeRef;
  readonly podman: PodmanOptions;
  readonly apptainer: ApptainerOptions;
}

const DOCKERFILE = 'Dockerfile';
const DEF_FILE = 'image.def';

function podmanCall(o: PodmanOptions, ...rest: string[]): string {
  return words(['podman', ...o.globalArgs, ...rest]);
}

/** `"${A}":"${A}"`: one shell word, a bind of a folder onto the same path. */
function samePathBind(value: ShellValue): string {
  return `${word(value)}:${word(value)}`;
}

/** Lines that build with one path and record it. `apptainer` is `$hpcdk_apptainer`, found at run time. */
function buildPath(
  spec: ImageBuildSpec,
  path: 'podman' | 'docker' | 'podman-apptainer' | 'docker-apptainer' | 'def',
): string[] {
  const podmanBuild = `${podmanCall(spec.podman, 'build', ...spec.podman.buildArgs, '-f', DOCKERFILE, '-t')} "$hpcdk_image" .`;
  const dockerBuild = `${words(['docker', 'build', '-f', DOCKERFILE, '-t'])} "$hpcdk_image" .`;
  const apptainerBuild = (source: string) =>
    `"$hpcdk_apptainer" build --force ${words(spec.apptainer.buildArgs)}${spec.apptainer.buildArgs.length > 0 ? ' ' : ''}"$hpcdk_sif.tmp" ${source}`;
  const say = (runner: string, how: string) => [`hpcdk_built_with ${runner} ${quote(how)}`];
  switch (path) {
    case 'podman':
      return [...say('podman', 'podman build from Dockerfile'), podmanBuild];
    case 'docker':
      return [...say('docker', 'docker build from Dockerfile'), dockerBuild];
    case 'podman-apptainer':
      return [
        ...say('"$hpcdk_apptainer_name"', 'podman build from Dockerfile, then apptainer build from docker-archive'),
        podmanBuild,
        `${podmanCall(spec.podman, 'save', '--format', 'docker-archive', '-o')} "$hpcdk_sif.tar" "$hpcdk_image"`,
        apptainerBuild('"docker-archive://$hpcdk_sif.tar"'),
        'rm -f -- "$hpcdk_sif.tar"',
        'mv -f -- "$hpcdk_sif.tmp" "$hpcdk_sif"',
      ];
    case 'docker-apptainer':
      return [
        ...say('"$hpcdk_apptainer_name"', 'docker build from Dockerfile, then apptainer build from docker-daemon'),
        dockerBuild,
        apptainerBuild('"docker-daemon://$hpcdk_image"'),
        'mv -f -- "$hpcdk_sif.tmp" "$hpcdk_sif"',
      ];
    case 'def':
      return [
        ...say('"$hpcdk_apptainer_name"', 'apptainer build from image.def'),
        apptainerBuild(DEF_FILE),
        'mv -f -- "$hpcdk_sif.tmp" "$hpcdk_sif"',
      ];
  }
}

function indent(lines: readonly string[]): string[] {
  return lines.map((l) => `  ${l}`);
}

/**
 * The build script apply runs. It picks a build path among what exists on
 * the target at apply time, says which in the build log, and records it for
 * the lock and for jobs.
 */
export function renderImageBuildScript(spec: ImageBuildSpec): string {
  const lines = ['#!/usr/bin/env bash', comment(spec.header.join('\n')), 'set -euo pipefail', STACK_DIR_LINE];
  lines.push(
    assignLine('hpcdk_image', spec.image),
    assignLine('hpcdk_sif', spec.sif),
    assignLine('hpcdk_record', spec.record),
    '# HPCDK_DESCRIBE=1: say which build path this target allows, build nothing (plan runs this).',
    'if [ -z "${HPCDK_DESCRIBE:-}" ]; then',
    `  cd -- ${word(spec.contextDir)}`,
    '  mkdir -p -- "$(dirname -- "$hpcdk_sif")" "$(dirname -- "$hpcdk_record")"',
    'fi',
    'hpcdk_have() { command -v "$1" >/dev/null 2>&1; }',
    '# docker may be only a client: it counts when its daemon answers.',
    'hpcdk_have_docker() { hpcdk_have docker && docker info >/dev/null 2>&1; }',
    'hpcdk_built_with() {',
    '  if [ -n "${HPCDK_DESCRIBE:-}" ]; then echo "$2"; exit 0; fi',
    '  printf \'%s\\n%s\\n\' "$1" "$2" > "$hpcdk_record.tmp"',
    '  echo "hpcdk: building $hpcdk_image: $2"',
    '}',
  );
  const apptainerLookup = (names: readonly string[]) => [
    `hpcdk_apptainer=$(command -v ${names.join(' || command -v ')} || true)`,
    'hpcdk_apptainer_name=$(basename -- "${hpcdk_apptainer:-none}")',
  ];
  const fail = (message: string) => [`echo ${quote(`hpcdk: ${message}`)} >&2`, 'exit 1'];
  switch (spec.runtime) {
    case 'podman':
      lines.push(
        'if ! hpcdk_have podman; then',
        ...indent(fail("podman is not on this target (the profile's containerRuntime is podman)")),
        'fi',
        ...buildPath(spec, 'podman'),
      );
      break;
    case 'docker':
      lines.push(
        'if ! hpcdk_have_docker; then',
        ...indent(fail("no docker daemon answers on this target (the profile's containerRuntime is docker)")),
        'fi',
        ...buildPath(spec, 'docker'),
      );
      break;
    case 'apptainer':
    case 'singularity':
      lines.push(
        // The program jobs call is the one the profile names, so the build uses that one too.
        ...apptainerLookup([spec.runtime]),
        'if [ -z "$hpcdk_apptainer" ]; then',
        ...indent(fail(`${spec.runtime} is not on this target (the profile's containerRuntime is ${spec.runtime})`)),
        'fi',
        '# Where podman or docker exists, build the Dockerfile and convert; otherwise build the .def directly.',
        'if hpcdk_have podman; then',
        ...indent(buildPath(spec, 'podman-apptainer')),
        'elif hpcdk_have_docker; then',
        ...indent(buildPath(spec, 'docker-apptainer')),
        'else',
        ...indent(buildPath(spec, 'def')),
        'fi',
      );
      break;
    case 'none':
      lines.push(
        ...apptainerLookup(['apptainer', 'singularity']),
        '# The profile names no runtime: build with the first that exists.',
        'if hpcdk_have podman; then',
        ...indent(buildPath(spec, 'podman')),
        'elif hpcdk_have_docker; then',
        ...indent(buildPath(spec, 'docker')),
        'elif [ -n "$hpcdk_apptainer" ]; then',
        ...indent(buildPath(spec, 'def')),
        'else',
        ...indent(fail('no container builder on this target: looked for podman, docker, apptainer and singularity')),
        'fi',
      );
      break;
  }
  lines.push(
    'mv -f -- "$hpcdk_record.tmp" "$hpcdk_record"',
    'echo "hpcdk: built $hpcdk_image ($(head -n 1 "$hpcdk_record"))"',
  );
  return `${lines.join('\n')}\n`;
}

/** The lock command's script: what was built and its digest (podman/docker image id and digest, or the .sif's sha256). */
export function renderImageLockScript(spec: ImageBuildSpec): string {
  return `${[
    '#!/usr/bin/env bash',
    comment([...spec.header, "Prints what apply built; recorded as the image's actual state."].join('\n')),
    'set -euo pipefail',
    STACK_DIR_LINE,
    assignLine('hpcdk_image', spec.image),
    assignLine('hpcdk_sif', spec.sif),
    assignLine('hpcdk_record', spec.record),
    'hpcdk_runner=$(head -n 1 "$hpcdk_record")',
    'echo "built-with: $(sed -n 2p "$hpcdk_record")"',
    'case "$hpcdk_runner" in',
    '  podman)',
    '    echo "image: $hpcdk_image"',
    `    echo "id: sha256:$(${podmanCall(spec.podman, 'image', 'inspect', '--format', '{{.Id}}')} "$hpcdk_image")"`,
    `    echo "digest: $(${podmanCall(spec.podman, 'image', 'inspect', '--format', '{{.Digest}}')} "$hpcdk_image")"`,
    '    ;;',
    '  docker)',
    '    echo "image: $hpcdk_image"',
    `    echo "id: $(${words(['docker', 'image', 'inspect', '--format', '{{.Id}}'])} "$hpcdk_image")"`,
    '    ;;',
    '  *)',
    '    echo "sif: ${hpcdk_sif#"$HPCDK_STACK_DIR"/}"',
    '    echo "sha256: $(sha256sum "$hpcdk_sif" | cut -d " " -f 1)"',
    '    ;;',
    'esac',
  ].join('\n')}\n`;
}

/**
 * The check apply runs after the build: the smoke test inside a `.sif` (the
 * seed's "test the Singularity image"). A podman or docker image already ran
 * it as its last build step, and a `.def` build as `%test`.
 */
export function renderImageCheckScript(spec: ImageBuildSpec, test: readonly ShellCommand[]): string {
  const script = ['set -e', ...test.map(renderShellCommand)].join('\n');
  return `${[
    '#!/usr/bin/env bash',
    comment([...spec.header, 'The smoke test, inside the built .sif.'].join('\n')),
    'set -euo pipefail',
    STACK_DIR_LINE,
    assignLine('hpcdk_sif', spec.sif),
    assignLine('hpcdk_record', spec.record),
    'hpcdk_runner=$(head -n 1 "$hpcdk_record")',
    'case "$hpcdk_runner" in',
    '  apptainer | singularity)',
    '    echo "hpcdk: smoke test in $hpcdk_sif"',
    `    "$hpcdk_runner" exec ${words(spec.apptainer.execArgs)}${spec.apptainer.execArgs.length > 0 ? ' ' : ''}"$hpcdk_sif" /bin/sh -c ${quote(script)}`,
    '    ;;',
    '  *) echo "hpcdk: the smoke test ran as the last step of the $hpcdk_runner build" ;;',
    'esac',
  ].join('\n')}\n`;
}

/** What a job's steps need to run inside an image on one target. */
export interface ImageRunSpec {
  readonly runtime: ContainerRuntime;
  readonly image: string;
  readonly sif: RuntimeRef;
  readonly record: RuntimeRef;
  /** Folders bound into the container at the same path: the stack folder, node-local scratch, data. */
  readonly binds: readonly ShellValue[];
  /** Bound only when the variable is set on the node (scratch may be unset outside a job). */
  readonly scratchVar: string;
  /** Variables passed into a podman/docker container (Apptainer passes the environment itself). */
  readonly passEnv: readonly string[];
  readonly gpus: boolean;
  readonly podman: PodmanOptions;
  readonly apptainer: ApptainerOptions;
}

export const IMAGE_RUN_FUNCTION = 'hpcdk_image_run';

function apptainerExec(spec: ImageRunSpec, program: string): string[] {
  const flags = [...(spec.gpus ? ['--nv'] : []), ...spec.apptainer.execArgs];
  return [
    `local binds=(${spec.binds.map((b) => `--bind ${word(b)}`).join(' ')})`,
    `if [ -n "\${${spec.scratchVar}:-}" ]; then binds+=(--bind "\${${spec.scratchVar}}"); fi`,
    `${program} exec ${words(flags)}${flags.length > 0 ? ' ' : ''}"\${binds[@]}" "$hpcdk_sif" /bin/sh -c "$1"`,
  ];
}

function ociRun(spec: ImageRunSpec, engine: 'podman' | 'docker'): string[] {
  const head =
    engine === 'podman'
      ? [
          'podman',
          ...spec.podman.globalArgs,
          'run',
          '--rm',
          ...spec.podman.runArgs,
          ...(spec.gpus ? spec.podman.gpuArgs : []),
        ]
      : ['docker', 'run', '--rm', ...(spec.gpus ? ['--gpus', 'all'] : [])];
  return [
    `local binds=(${spec.binds.map((b) => `-v ${samePathBind(b)}`).join(' ')})`,
    `if [ -n "\${${spec.scratchVar}:-}" ]; then binds+=(-v "\${${spec.scratchVar}}:\${${spec.scratchVar}}"); fi`,
    `${words(head)} "\${binds[@]}" ${spec.passEnv.map((e) => `-e ${quote(e)}`).join(' ')} -w "$PWD" --entrypoint /bin/sh "$hpcdk_image" -c "$1"`,
  ];
}

/**
 * Job prologue lines: the function each wrapped step calls, which runs one
 * line of shell inside the image with the target's runtime. Where the
 * profile names none, the runtime recorded by the build is used.
 */
export function renderImageRunFunction(spec: ImageRunSpec, header: string): string[] {
  const usesSif = spec.runtime !== 'podman' && spec.runtime !== 'docker';
  const usesImage = spec.runtime !== 'apptainer' && spec.runtime !== 'singularity';
  const body: string[] = [
    ...(usesImage ? [`local ${assignLine('hpcdk_image', spec.image)}`] : []),
    ...(usesSif ? [`local ${assignLine('hpcdk_sif', spec.sif)}`] : []),
  ];
  switch (spec.runtime) {
    case 'apptainer':
    case 'singularity':
      body.push(...apptainerExec(spec, spec.runtime));
      break;
    case 'podman':
    case 'docker':
      body.push(...ociRun(spec, spec.runtime));
      break;
    case 'none':
      body.push(
        `case "$(head -n 1 ${word(spec.record)})" in`,
        '  apptainer)',
        ...apptainerExec(spec, 'apptainer').map((l) => `    ${l}`),
        '    ;;',
        '  singularity)',
        ...apptainerExec(spec, 'singularity').map((l) => `    ${l}`),
        '    ;;',
        '  podman)',
        ...ociRun(spec, 'podman').map((l) => `    ${l}`),
        '    ;;',
        '  *)',
        ...ociRun(spec, 'docker').map((l) => `    ${l}`),
        '    ;;',
        'esac',
      );
      break;
  }
  return [comment(header), `${IMAGE_RUN_FUNCTION}() {`, ...body.map((l) => `  ${l}`), '}'];
}

/** A rendered job step, run inside the image by the prologue's function. */
export function wrapImageStep(step: string): string {
  return `${IMAGE_RUN_FUNCTION} ${quote(step)}`;
}
