/**
 * Pure renderers for Python environments: requirements files,
 * environment.yml, bootstrap and smoke scripts, and the lines a job runs to
 * build or activate an environment. Every value enters shell text through
 * lib/shell; every script starts with `set -euo pipefail`.
 */
import { createRequire } from 'node:module';
import { STACK_DIR_LINE } from '../core/runtime.js';
import { comment, quote, word, words, type ShellValue } from '../shell/index.js';
import { readAsset } from '../core/assets.js';

/** yaml, loaded when a conda environment is first rendered: most stacks have none, and it costs about 30 ms to load. */
const requireLazily = createRequire(import.meta.url);
function stringify(value: unknown, options?: import('yaml').ToStringOptions): string {
  return (requireLazily('yaml') as typeof import('yaml')).stringify(value, options);
}

/** What a script sources and loads before Python is usable on a target. */
export interface ShellSetup {
  readonly targetName: string;
  /** Files sourced first (`/etc/profile.d/lmod.sh`, `$HOME/miniconda3/etc/profile.d/conda.sh`). */
  readonly shellInit: readonly ShellValue[];
  readonly moduleSystem: 'lmod' | 'environment-modules' | 'none';
  readonly modules: readonly string[];
}

/** pip's source options, shared by every pip command of one environment. */
export interface PipSources {
  readonly indexUrls: readonly string[];
  readonly extraIndexUrls: readonly string[];
  readonly findLinks: readonly ShellValue[];
  readonly noIndex: boolean;
}

/** A path below `base`, still one shell word: `"${SLURM_TMPDIR}/env/bin/activate"`. */
export function pathBelow(base: ShellValue, ...segments: string[]): ShellValue {
  return typeof base === 'string' ? [base.replace(/\/+$/, ''), ...segments].join('/') : base.join(...segments);
}

function scriptStart(header: readonly string[]): string[] {
  return ['#!/usr/bin/env bash', comment(header.join('\n')), 'set -euo pipefail', STACK_DIR_LINE];
}

/**
 * Sources the init files and loads the modules. Init files are sourced with
 * `set -u` off because site scripts (lmod.sh, conda.sh) read unset variables.
 * Where the target has no module system the list is kept as a comment, so
 * the same stack still runs there (DECISIONS.md).
 */
export function shellSetupLines(setup: ShellSetup): string[] {
  const lines: string[] = [];
  if (setup.shellInit.length > 0) {
    lines.push('set +u');
    for (const file of setup.shellInit) lines.push('# shellcheck source=/dev/null', `source ${word(file)}`);
    lines.push('set -u');
  }
  if (setup.modules.length > 0) {
    if (setup.moduleSystem === 'none') {
      lines.push(
        comment(`Modules (not loaded: target ${setup.targetName} has no module system): ${setup.modules.join(' ')}`),
      );
    } else {
      lines.push(`module load ${words(setup.modules)}`);
    }
  }
  return lines;
}

/** `requirements.txt`: one canonical requirement per line, sorted, with a header saying where it came from. */
export function renderRequirementsFile(header: string, lines: readonly string[]): string {
  return `${comment(header)}\n${lines.map((l) => `${l}\n`).join('')}`;
}

/** pip's options for where packages come from, as words. */
export function pipSourceWords(sources: PipSources): string[] {
  const out: string[] = [];
  if (sources.noIndex) out.push('--no-index');
  for (const url of sources.indexUrls) out.push('--index-url', quote(url));
  for (const url of sources.extraIndexUrls) out.push('--extra-index-url', quote(url));
  for (const dir of sources.findLinks) out.push('--find-links', word(dir));
  return out;
}

/** How a virtual environment is created. */
export interface VenvCreation {
  readonly tool: 'venv' | 'virtualenv';
  /** The interpreter, e.g. `python3.11`. */
  readonly interpreter: string;
  /** `virtualenv --no-download`: seed pip from the wheels bundled with virtualenv (DRAC, offline nodes). */
  readonly noDownload: boolean;
}

export interface VenvBootstrapSpec {
  readonly header: readonly string[];
  readonly setup: ShellSetup;
  readonly envDir: ShellValue;
  readonly create: VenvCreation;
  readonly sources: PipSources;
  /** Deployed path of requirements.txt, when there are requirements. */
  readonly requirementsFile?: ShellValue;
  readonly requirementCount: number;
  /** Deployed path of requirements-pip.txt (installed with --no-deps), when there are pip-only packages. */
  readonly pipOnlyFile?: ShellValue;
  readonly pipOnlyCount: number;
  /** Deployed path of env-info.py, which records each install's `--report` (where packages came from). */
  readonly envInfo: ShellValue;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** An idempotent bootstrap: creates the venv when it is missing, then installs the pins (pip leaves satisfied ones alone). */
export function renderVenvBootstrap(spec: VenvBootstrapSpec): string {
  const create =
    spec.create.tool === 'virtualenv'
      ? `virtualenv ${spec.create.noDownload ? '--no-download ' : ''}--python ${quote(spec.create.interpreter)} "$env_dir"`
      : `${quote(spec.create.interpreter)} -m venv "$env_dir"`;
  const pipOptions = ['--disable-pip-version-check', '--no-input', ...pipSourceWords(spec.sources)];
  const lines = [
    ...scriptStart(spec.header),
    '',
    ...shellSetupLines(spec.setup),
    `env_dir=${word(spec.envDir)}`,
    ...(spec.requirementsFile !== undefined || spec.pipOnlyFile !== undefined
      ? [`pip_options=(${pipOptions.join(' ')})`]
      : []),
    '',
    'if [ -x "$env_dir/bin/python" ]; then',
    '  echo "hpcdk: updating the Python environment at $env_dir"',
    'else',
    '  echo "hpcdk: creating the Python environment at $env_dir"',
    '  mkdir -p "$(dirname "$env_dir")"',
    `  ${create}`,
    'fi',
  ];
  if (spec.requirementsFile !== undefined || spec.pipOnlyFile !== undefined) {
    // pip's install report says where each package came from; env-info.py keeps it for the lock.
    lines.push('report="$env_dir/hpcdk-install-report.json"');
  }
  if (spec.requirementsFile !== undefined) {
    lines.push(
      `"$env_dir/bin/python" -m pip install "\${pip_options[@]}" --report "$report" --requirement ${word(spec.requirementsFile)}`,
      `"$env_dir/bin/python" ${word(spec.envInfo)} record "$report"`,
      `echo ${quote(`hpcdk: installed ${plural(spec.requirementCount, 'pinned requirement')} (requirements.txt) and their dependencies`)}`,
    );
  }
  if (spec.pipOnlyFile !== undefined) {
    lines.push(
      `"$env_dir/bin/python" -m pip install "\${pip_options[@]}" --report "$report" --no-deps --requirement ${word(spec.pipOnlyFile)}`,
      `"$env_dir/bin/python" ${word(spec.envInfo)} record "$report"`,
      `echo ${quote(`hpcdk: installed ${plural(spec.pipOnlyCount, 'pip-only package')} without dependencies (requirements-pip.txt)`)}`,
    );
  }
  lines.push(
    'echo "hpcdk: the Python environment at $env_dir is ready ($("$env_dir/bin/python" -m pip freeze | wc -l) packages)"',
  );
  return `${lines.join('\n')}\n`;
}

export interface CondaBootstrapSpec {
  readonly header: readonly string[];
  readonly setup: ShellSetup;
  readonly prefix: ShellValue;
  /** Deployed path of environment.yml. */
  readonly environmentFile: ShellValue;
  readonly pipOnlyFile?: ShellValue;
  readonly pipOnlyCount: number;
}

/** The bootstrap: `conda env create -p` or `conda env update -p`, then the pip-only pins with `--no-deps`. */
export function renderCondaBootstrap(spec: CondaBootstrapSpec): string {
  const lines = [
    ...scriptStart(spec.header),
    '',
    ...shellSetupLines(spec.setup),
    `prefix=${word(spec.prefix)}`,
    `environment_file=${word(spec.environmentFile)}`,
    'if ! command -v conda >/dev/null 2>&1; then',
    `  echo ${quote(`hpcdk: conda is not on PATH on target ${spec.setup.targetName}; name its conda.sh in the profile's shellInit`)} >&2`,
    '  exit 1',
    'fi',
    '',
    'if [ -d "$prefix/conda-meta" ]; then',
    '  echo "hpcdk: updating the conda environment at $prefix"',
    '  conda env update --prefix "$prefix" --file "$environment_file" --prune',
    'else',
    '  echo "hpcdk: creating the conda environment at $prefix"',
    '  conda env create --prefix "$prefix" --file "$environment_file"',
    'fi',
  ];
  if (spec.pipOnlyFile !== undefined) {
    lines.push(
      `"$prefix/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps --requirement ${word(spec.pipOnlyFile)}`,
      `echo ${quote(`hpcdk: installed ${plural(spec.pipOnlyCount, 'pip-only package')} without dependencies (requirements-pip.txt)`)}`,
    );
  }
  lines.push('echo "hpcdk: the conda environment at $prefix is ready"');
  return `${lines.join('\n')}\n`;
}

export interface CondaEnvironmentFileSpec {
  readonly name?: string;
  readonly channels: readonly string[];
  /** Conda match specs, python first when a version is declared. */
  readonly dependencies: readonly string[];
  /** Canonical pip requirements for the `pip:` section. */
  readonly pip: readonly string[];
}

/** `environment.yml` as conda reads it: name, channels, dependencies and a `pip:` section. */
export function renderEnvironmentYml(spec: CondaEnvironmentFileSpec, header: string): string {
  const dependencies: Array<string | { pip: string[] }> = [...spec.dependencies];
  if (spec.pip.length > 0) {
    if (!spec.dependencies.some((d) => /^pip(\W|$)/.test(d))) dependencies.push('pip');
    dependencies.push({ pip: [...spec.pip] });
  }
  const doc = { ...(spec.name !== undefined ? { name: spec.name } : {}), channels: [...spec.channels], dependencies };
  return `${comment(header)}\n${stringify(doc, { lineWidth: 0 })}`;
}

export interface SmokeSpec {
  readonly header: readonly string[];
  /** The environment's folder; its `bin/python` runs the check. */
  readonly envDir: ShellValue;
  readonly imports: readonly string[];
  readonly versions: readonly string[];
  readonly address: string;
}

/** The acceptance check: import everything, print versions. Module names are validated identifiers. */
export function renderSmoke(spec: SmokeSpec): string {
  const modules = [...new Set([...spec.imports, ...spec.versions])];
  const python = [
    `import ${modules.join(', ')}`,
    ...spec.versions.map((m) => `print(${JSON.stringify(m)}, getattr(${m}, "__version__", "unknown"))`),
  ];
  const lines = [
    ...scriptStart(spec.header),
    `env_dir=${word(spec.envDir)}`,
    '"$env_dir/bin/python" - <<\'PY\'',
    ...python,
    'PY',
    `echo ${quote(`hpcdk: smoke check of ${spec.address} passed (imported ${spec.imports.join(', ')})`)}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** How a job gets its environment. */
export interface JobEnvSpec {
  readonly address: string;
  readonly build: 'login' | 'job' | 'per-node';
  readonly setup: ShellSetup;
  /** Lines that activate the environment once it exists. */
  readonly activate: readonly string[];
  readonly bootstrap: ShellValue;
  readonly smoke?: ShellValue;
  /** Where srun exists; the local target has one node and runs the bootstrap directly. */
  readonly hasSrun: boolean;
}

/** Lines that make a venv the job's Python. */
export function venvActivateLines(envDir: ShellValue): string[] {
  return ['set +u', '# shellcheck source=/dev/null', `source ${word(pathBelow(envDir, 'bin', 'activate'))}`, 'set -u'];
}

/** Lines that make a conda prefix the job's Python (conda.sh comes from the profile's shellInit). */
export function condaActivateLines(prefix: ShellValue): string[] {
  return ['set +u', `conda activate ${word(prefix)}`, 'set -u'];
}

/** The job prologue: build (in the job, or on every node) when asked, then load modules and activate, then smoke-check a fresh build. */
export function renderJobEnvPrologue(spec: JobEnvSpec): string[] {
  const lines: string[] = [];
  if (spec.build === 'login') {
    lines.push(comment(`hpcdk: Python environment ${spec.address} (built by apply on the login node)`));
  } else if (spec.build === 'job') {
    lines.push(
      comment(`hpcdk: build the Python environment ${spec.address} on node-local disk`),
      `bash ${word(spec.bootstrap)}`,
    );
  } else if (spec.hasSrun) {
    lines.push(
      comment(`hpcdk: build the Python environment ${spec.address} on every node, then activate it on this one`),
      `srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 bash ${word(spec.bootstrap)}`,
    );
  } else {
    lines.push(
      comment(
        `hpcdk: build the Python environment ${spec.address} (target ${spec.setup.targetName} has one node and no srun)`,
      ),
      `bash ${word(spec.bootstrap)}`,
    );
  }
  lines.push(...shellSetupLines(spec.setup), ...spec.activate);
  if (spec.build !== 'login' && spec.smoke !== undefined) lines.push(`bash ${word(spec.smoke)}`);
  return lines;
}

/**
 * A small Python program run with the environment's own interpreter:
 * - `record REPORT` merges what `pip install --report` says was installed
 *   (name, version, where it came from) into `<env>/hpcdk-sources.json`;
 * - `lock` prints, after `pip freeze` in the lock, each installed
 *   distribution's direct requirements (`# requires name: dep dep`) and
 *   where it came from (`# source name==version: url`), so plan can tell a
 *   dependency of a declared package from one added by hand, and the lock
 *   records wheelhouse, index or local path per package.
 * Extras and markers are ignored in `requires`: that over-approximates
 * what is reachable, so nothing legitimately installed is reported.
 */
export const ENV_INFO_PY = readAsset('render/env-info.py');

export interface WheelhouseGatherSpec {
  readonly header: readonly string[];
  readonly setup: ShellSetup;
  readonly wheelDir: ShellValue;
  readonly interpreter: string;
  readonly sources: PipSources;
  /** The user's projects: built into wheels (`pip wheel --no-deps`), their dependencies downloaded. */
  readonly projects: readonly ShellValue[];
  /** `--no-build-isolation` when building the projects. */
  readonly noBuildIsolation: boolean;
  /** Deployed path of the wheelhouse's requirements.txt, when it has requirements. */
  readonly requirementsFile?: ShellValue;
}

/** Gathers wheels on a machine with internet: the projects' own wheels, then everything they and the requirements need. */
export function renderWheelhouseGather(spec: WheelhouseGatherSpec): string {
  const pipOptions = [
    '--disable-pip-version-check',
    '--no-input',
    ...pipSourceWords(spec.sources),
    ...(spec.noBuildIsolation ? ['--no-build-isolation'] : []),
  ];
  const lines = [
    ...scriptStart(spec.header),
    '',
    ...shellSetupLines(spec.setup),
    `wheel_dir=${word(spec.wheelDir)}`,
    `pip_options=(${pipOptions.join(' ')})`,
    'mkdir -p "$wheel_dir"',
  ];
  for (const project of spec.projects) {
    lines.push(
      `${quote(spec.interpreter)} -m pip wheel "\${pip_options[@]}" --no-deps --wheel-dir "$wheel_dir" ${word(project)}`,
      `${quote(spec.interpreter)} -m pip download "\${pip_options[@]}" --dest "$wheel_dir" ${word(project)}`,
    );
  }
  if (spec.requirementsFile !== undefined) {
    lines.push(
      `${quote(spec.interpreter)} -m pip download "\${pip_options[@]}" --dest "$wheel_dir" --requirement ${word(spec.requirementsFile)}`,
    );
  }
  lines.push(
    'echo "hpcdk: the wheelhouse at $wheel_dir holds $(find "$wheel_dir" -maxdepth 1 -name \'*.whl\' | wc -l) wheels"',
  );
  return `${lines.join('\n')}\n`;
}
