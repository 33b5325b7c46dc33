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

/** One package pinned to one version, as the DESCRIPTION file spells it (`1.14.8`, `7.3-60`). */
export interface RPackagePin {
  readonly name: string;
  readonly version: string;
}

/** Where packages come from: repository URLs (CRAN-like), or a local repository of source tarballs on the target. */
export type RSources = { readonly kind: 'repos'; readonly urls: readonly string[] } | { readonly kind: 'local'; readonly path: ShellValue };

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
    ...fail(quote(`hpcdk: Rscript is not on PATH on target ${spec.setup.targetName}; name an R module in modules, e.g. r/4.3.1`)),
    'fi',
    "r_version=$(Rscript --vanilla -e 'cat(as.character(getRversion()))')",
  ];
  if (spec.rVersion !== undefined) {
    lines.push('case "$r_version" in', `  ${quote(spec.rVersion)} | ${quote(spec.rVersion)}.*) ;;`, '  *)');
    lines.push(...fail(`"hpcdk: Rscript is R $r_version, but the library declares r: "${quote(spec.rVersion)}`).map((l) => `  ${l}`), '    ;;', 'esac');
  }
  if (local) {
    // install.packages reads the index, not the folder: an unindexed repository looks empty.
    lines.push('if [ ! -f "$local_repo/src/contrib/PACKAGES" ]; then');
    lines.push(...fail(`"hpcdk: the local repository $local_repo has no src/contrib/PACKAGES index (make one with tools::write_PACKAGES(dir, type = 'source'))"`));
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
export const R_INSTALL_PROGRAM = `# Rendered by hpcdk: installs pinned R packages into one library, skipping those already at their pins.
args <- commandArgs(trailingOnly = TRUE)
lib <- args[1]
pins <- trimws(readLines(args[2]))
pins <- pins[nzchar(pins) & !startsWith(pins, "#")]
wanted <- sub("==.*$", "", pins)
versions <- setNames(sub("^[^=]*==", "", pins), wanted)
repos <- if (args[3] == "--local-repo") paste0("file://", normalizePath(args[4], mustWork = TRUE)) else args[-(1:3)]
.libPaths(c(lib, .libPaths()))
options(warn = 1)

installed_version <- function(pkg) {
  description <- file.path(lib, pkg, "DESCRIPTION")
  if (file.exists(description)) read.dcf(description, fields = "Version")[1, 1] else NA_character_
}
at_pin <- function(pkg) {
  version <- installed_version(pkg)
  !is.na(version) && package_version(version) == package_version(versions[[pkg]])
}
is_installed <- function(pkg) nzchar(system.file(package = pkg))

available <- available.packages(repos = repos, type = "source")
current_version <- function(pkg) if (pkg %in% rownames(available)) available[pkg, "Version"] else NA_character_

hard_dependencies <- function(tarball, pkg) {
  exdir <- tempfile()
  untar(tarball, files = file.path(pkg, "DESCRIPTION"), exdir = exdir)
  description <- read.dcf(file.path(exdir, pkg, "DESCRIPTION"))
  fields <- intersect(c("Depends", "Imports", "LinkingTo"), colnames(description))
  deps <- trimws(sub("\\\\(.*$", "", unlist(strsplit(description[1, fields], ","))))
  setdiff(deps[nzchar(deps)], "R")
}

tarball_urls <- function(pkg, version) {
  file <- paste0(pkg, "_", version, ".tar.gz")
  contrib <- contrib.url(repos, "source")
  c(file.path(contrib, file), file.path(contrib, "Archive", pkg, file))
}

install_from_tarball <- function(pkg, version) {
  tarball <- file.path(tempdir(), paste0(pkg, "_", version, ".tar.gz"))
  for (url in tarball_urls(pkg, version)) {
    fetched <- tryCatch(download.file(url, tarball, quiet = TRUE, mode = "wb") == 0, error = function(e) FALSE, warning = function(w) FALSE)
    if (!fetched) next
    missing <- Filter(Negate(is_installed), hard_dependencies(tarball, pkg))
    if (length(missing) > 0) install.packages(missing, lib = lib, repos = repos, type = "source")
    install.packages(tarball, lib = lib, repos = NULL, type = "source")
    return(TRUE)
  }
  message(pkg, " ", version, ": the repositories offer ", if (is.na(current_version(pkg))) "no version" else current_version(pkg),
          ", and there is no tarball at ", paste(tarball_urls(pkg, version), collapse = " or "))
  FALSE
}

# FALSE when the repositories do not have the pinned version at all.
install_pin <- function(pkg) {
  version <- versions[[pkg]]
  current <- current_version(pkg)
  cat("installing ", pkg, " ", version, "\\n", sep = "")
  if (is.na(current) || package_version(current) != package_version(version)) return(install_from_tarball(pkg, version))
  install.packages(pkg, lib = lib, repos = repos, type = "source")
  TRUE
}

already <- Filter(at_pin, wanted)
unavailable <- character()
for (pass in 1:2) {
  for (pkg in setdiff(Filter(Negate(at_pin), wanted), unavailable)) if (!install_pin(pkg)) unavailable <- c(unavailable, pkg)
}

wrong <- Filter(Negate(at_pin), wanted)
for (pkg in wrong) {
  version <- installed_version(pkg)
  message("hpcdk: ", pkg, ": declared ", versions[[pkg]], ", ", if (is.na(version)) "not installed" else paste("installed", version))
}
if (length(wrong) > 0) {
  message("hpcdk: ", length(wrong), " of ", length(wanted), " R packages are not at their pinned versions in ", lib)
  quit(status = 1)
}
cat("hpcdk: the R library at ", lib, " is ready: ", length(wanted) - length(already), " installed, ", length(already),
    " already at their pinned versions\\n", sep = "")
`;

/**
 * lock.R LIB: every package in LIB as \`name==version\`, then what each
 * requires (\`# requires name: dep dep\`), sorted: the lock plan compares
 * with the declaration, and the freeze next to a job's logs.
 */
export const R_LOCK_PROGRAM = `# Rendered by hpcdk: prints an R library's packages (name==version) and what each requires.
lib <- commandArgs(trailingOnly = TRUE)[1]
installed <- installed.packages(lib.loc = lib, noCache = TRUE)
order <- sort(rownames(installed), method = "radix")
for (pkg in order) cat(pkg, "==", installed[pkg, "Version"], "\\n", sep = "")
for (pkg in order) {
  fields <- installed[pkg, c("Depends", "Imports", "LinkingTo")]
  deps <- trimws(sub("\\\\(.*$", "", unlist(strsplit(fields[!is.na(fields)], ","))))
  deps <- sort(unique(setdiff(deps[nzchar(deps)], "R")), method = "radix")
  cat("# requires ", pkg, ":", if (length(deps) > 0) paste0(" ", deps, collapse = ""), "\\n", sep = "")
}
`;
