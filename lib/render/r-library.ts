/**
 * Pure renderers for R libraries: the pinned package list, the bootstrap
 * and smoke scripts, and the two small R programs they run (install.R,
 * lock.R). The R programs are fixed text: every declared value reaches them
 * as a command-line argument or a file, quoted through lib/shell, never
 * spliced into R code (package names are the one exception: they are
 * validated identifiers).
 */
import { STACK_DIR_LINE } from '../core/runtime.js';
import { comment, exportLine, quote, word, type ShellValue } from '../shell/index.js';
import { shellSetupLines, type ShellSetup } from './python-env.js';
import { readAsset } from '../core/assets.js';

/** One package pinned to one version, as the DESCRIPTION file spells it (`1.14.8`, `7.3-60`). */
export interface RPackagePin {
  readonly name: string;
  readonly version: string;
}

/** Where packages come from: repository URLs (CRAN-like), or a local repository of source tarballs on the target. */
export type RSources =
  | { readonly kind: 'repos'; readonly urls: readonly string[] }
  | { readonly kind: 'local'; readonly path: ShellValue };

/** `name==version`: the line form of a pin, in packages.txt, specs and locks. */
export function pinLine(pin: RPackagePin): string {
  return `${pin.name}==${pin.version}`;
}

/** Pins sorted by name in C order, so the rendered files do not depend on declaration order. */
export function sortPins(pins: readonly RPackagePin[]): RPackagePin[] {
  return [...pins].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** `packages.txt`: one `name==version` per line, read by install.R. */
export function renderRPackagesFile(header: string, pins: readonly RPackagePin[]): string {
  return `${comment(header)}\n${pins.map((p) => `${pinLine(p)}\n`).join('')}`;
}

/** Lines that make the library the first place R looks, in jobs and scripts. R_LIBS_USER too, so a personal library never shadows it. */
export function rLibraryActivateLines(libDir: ShellValue): string[] {
  return [exportLine('R_LIBS_USER', libDir), exportLine('R_LIBS', libDir)];
}

/** The command the apply and plan run to record the library's state (after the target's setup). */
export function rLockCommand(setup: ShellSetup, lockProgram: ShellValue, libDir: ShellValue): string {
  return [...shellSetupLines(setup), `Rscript --vanilla ${word(lockProgram)} ${word(libDir)}`].join('\n');
}

/** What a job records as the packages it ran with: the lock program, on the library the job's prologue exported. */
export function rFreezeCommand(lockProgram: ShellValue): string {
  return `Rscript --vanilla ${word(lockProgram)} "$R_LIBS"`;
}

export interface RBootstrapSpec {
  readonly header: readonly string[];
  readonly setup: ShellSetup;
  readonly libDir: ShellValue;
  readonly sources: RSources;
  /** The declared R version (`4.3`, `4.3.1`): the Rscript found must be that release. */
  readonly rVersion?: string;
  /** Deployed paths of install.R and packages.txt. */
  readonly installProgram: ShellValue;
  readonly packagesFile: ShellValue;
  readonly packageCount: number;
}

/** The scripts' own form of the activation lines, on their `lib_dir` variable. */
const LIB_DIR_EXPORT = 'export R_LIBS_USER="$lib_dir" R_LIBS="$lib_dir"';

function scriptStart(header: readonly string[]): string[] {
  return ['#!/usr/bin/env bash', comment(header.join('\n')), 'set -euo pipefail', STACK_DIR_LINE];
}

/** Lines that print `message` (already one shell word) on stderr and fail. */
function fail(message: string): string[] {
  return [`  echo ${message} >&2`, '  exit 1'];
}

/**
 * An idempotent bootstrap: checks that Rscript is there (and is the declared
 * release) and that a local repository is indexed, then runs install.R,
 * which skips packages already at their pins. With HPCDK_DESCRIBE=1 it
 * stops after the checks and says how it would build (plan runs this).
 */
export function renderRBootstrap(spec: RBootstrapSpec): string {
  const sources = spec.sources;
  const local = sources.kind === 'local';
  const lines = [
    ...scriptStart(spec.header),
    '',
    ...shellSetupLines(spec.setup),
    `lib_dir=${word(spec.libDir)}`,
    sources.kind === 'local' ? `local_repo=${word(sources.path)}` : `repos=(${sources.urls.map(quote).join(' ')})`,
    '',
    'if ! command -v Rscript >/dev/null 2>&1; then',
    ...fail(
      quote(
        `hpcdk: Rscript is not on PATH on target ${spec.setup.targetName}; name an R module in modules, e.g. r/4.3.1`,
      ),
    ),
    'fi',
    "r_version=$(Rscript --vanilla -e 'cat(as.character(getRversion()))')",
  ];
  if (spec.rVersion !== undefined) {
    lines.push('case "$r_version" in', `  ${quote(spec.rVersion)} | ${quote(spec.rVersion)}.*) ;;`, '  *)');
    lines.push(
      ...fail(`"hpcdk: Rscript is R $r_version, but the library declares r: "${quote(spec.rVersion)}`).map(
        (l) => `  ${l}`,
      ),
      '    ;;',
      'esac',
    );
  }
  if (local) {
    // install.packages reads the index, not the folder: an unindexed repository looks empty.
    lines.push('if [ ! -f "$local_repo/src/contrib/PACKAGES" ]; then');
    lines.push(
      ...fail(
        `"hpcdk: the local repository $local_repo has no src/contrib/PACKAGES index (make one with tools::write_PACKAGES(dir, type = 'source'))"`,
      ),
    );
    lines.push('fi');
  }
  const from = local ? 'the local repository $local_repo' : '${repos[*]}';
  lines.push(
    '',
    '# HPCDK_DESCRIBE=1: say how this target would build, build nothing (plan runs this).',
    'if [ -n "${HPCDK_DESCRIBE:-}" ]; then',
    `  echo "hpcdk: R $r_version, packages from ${from}"`,
    '  exit 0',
    'fi',
    '',
    'mkdir -p "$lib_dir"',
    LIB_DIR_EXPORT,
    `echo "hpcdk: installing ${spec.packageCount} pinned R package${spec.packageCount === 1 ? '' : 's'} into $lib_dir with R $r_version from ${from}"`,
    `Rscript --vanilla ${word(spec.installProgram)} "$lib_dir" ${word(spec.packagesFile)} ${local ? '--local-repo "$local_repo"' : '--repos "${repos[@]}"'}`,
  );
  return `${lines.join('\n')}\n`;
}

export interface RSmokeSpec {
  readonly header: readonly string[];
  readonly setup: ShellSetup;
  readonly libDir: ShellValue;
  /** Validated R package names. */
  readonly packages: readonly string[];
  readonly address: string;
}

/** Loads every declared package from the library and prints its version. */
export function renderRSmoke(spec: RSmokeSpec): string {
  const names = spec.packages.map((p) => JSON.stringify(p)).join(', ');
  const program = `for (p in c(${names})) { suppressPackageStartupMessages(library(p, character.only = TRUE)); cat(p, as.character(packageVersion(p)), "\\n") }`;
  const lines = [
    ...scriptStart(spec.header),
    '',
    ...shellSetupLines(spec.setup),
    `lib_dir=${word(spec.libDir)}`,
    LIB_DIR_EXPORT,
    `Rscript --vanilla -e ${quote(program)}`,
    `echo ${quote(`hpcdk: smoke check of ${spec.address} passed (loaded ${spec.packages.join(', ')})`)}`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * install.R LIB PACKAGES_FILE (--repos URL… | --local-repo DIR): installs
 * each pinned package that LIB does not hold at its pin. A pin that is the
 * repository's current version is installed with install.packages (its
 * missing dependencies with it); an older one from its tarball, in
 * src/contrib or src/contrib/Archive/<pkg>/, after its missing hard
 * dependencies. Two passes, because a dependency of one pin may bring
 * another pinned package at the repository's version. Fails, naming each
 * package, when any pin is not what LIB holds at the end.
 */
export const R_INSTALL_PROGRAM = readAsset('render/r-install.R');

/**
 * lock.R LIB: every package in LIB as \`name==version\`, then what each
 * requires (\`# requires name: dep dep\`), sorted: the lock plan compares
 * with the declaration, and the freeze next to a job's logs.
 */
export const R_LOCK_PROGRAM = readAsset('render/r-lock.R');
