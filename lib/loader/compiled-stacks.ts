import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { hpcdkPackage } from '../core/package-info.js';

/**
 * Stack files compiled to JavaScript once and kept until one of their sources
 * changes. Loading TypeScript through import hooks (tsx) costs about a tenth
 * of a second on every command; the compiled modules load without hooks.
 *
 * The cache lives in `node_modules/.cache/hpcdk/<project>/stacks/`, where
 * build tools keep theirs: the compiled modules import packages from the
 * project's node_modules as the stack files do, and an import of the
 * project's own package (a self-reference) is pointed at its file. All stack files are
 * compiled in one build with shared chunks: a module two stack files import
 * (stacks/profiles.ts) still runs once, as it does under tsx.
 *
 * It stands aside, and tsx loads the stack files, when:
 * - the project has no node_modules, or is not an ES module package;
 * - a source uses what compiling into another folder would change
 *   (`import.meta`, `__dirname`, `require`, a dynamic `import()`);
 * - HPCDK_STACK_CACHE=0 is set.
 * Errors are always reported from a tsx load, with their file and line.
 */

const INDEX_FORMAT = 1;

interface CacheIndex {
  readonly format: number;
  /** What compiled it: a new hpcdk or esbuild compiles anew. */
  readonly compiler: string;
  /** The stack files, relative to the project, sorted. */
  readonly files: readonly string[];
  /** Every source the build read (stack files, local modules, tsconfig, package.json) and its sha256. */
  readonly inputs: Readonly<Record<string, string>>;
  /** Undefined when a source rules the cache out: tsx loads the project. */
  readonly build?: string;
  /** Each stack file's compiled module, relative to the build folder. */
  readonly outputs?: Readonly<Record<string, string>>;
}

/** What in a source ties it to its own location or to CommonJS. */
const LOCATION_BOUND = /\bimport\.meta\b|\b__dirname\b|\b__filename\b|\brequire\s*\(|\bimport\s*\(/;

function sha256File(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function isEsmProject(projectDir: string): boolean {
  return readJson<{ type?: string }>(join(projectDir, 'package.json'))?.type === 'module';
}

/** What compiles the stack files; read from package files, so a warm load never starts esbuild. */
function compilerId(): string {
  const version = (path: string) => readJson<{ version?: string }>(path)?.version ?? '?';
  const esbuild = createRequire(import.meta.url).resolve('esbuild/package.json');
  return `hpcdk ${hpcdkPackage().version} esbuild ${version(esbuild)} node ${process.versions.node.split('.')[0]}`;
}

function indexIsCurrent(
  index: CacheIndex | undefined,
  files: readonly string[],
  projectDir: string,
): index is CacheIndex {
  if (!index || index.format !== INDEX_FORMAT) return false;
  if (index.files.length !== files.length || index.files.some((f, i) => f !== files[i])) return false;
  return Object.entries(index.inputs).every(([path, digest]) => sha256File(join(projectDir, path)) === digest);
}

/** What one load found or made in the cache. */
export interface CompiledStacks {
  /** Each stack file's compiled module (absolute path to file URL); undefined when tsx must load them. */
  readonly modules?: ReadonlyMap<string, string>;
  /** Keeps what this load compiled: called once the project has loaded. */
  keep(): void;
  /** Removes what this load compiled: a load that fails leaves no build behind. */
  drop(): void;
}

/** The compiled stack files of a project: from the cache, or compiled now when a source changed. */
export async function compileStacks(
  projectDir: string,
  stackFiles: readonly string[],
): Promise<CompiledStacks | undefined> {
  if (process.env.HPCDK_STACK_CACHE === '0' || stackFiles.length === 0) return undefined;
  if (!isEsmProject(projectDir) || !existsSync(join(projectDir, 'node_modules'))) return undefined;
  // One folder per project: node_modules may be shared (a symlink) by several.
  const cacheDir = join(
    projectDir,
    'node_modules',
    '.cache',
    'hpcdk',
    createHash('sha256').update(projectDir).digest('hex').slice(0, 16),
    'stacks',
  );
  const indexPath = join(cacheDir, 'index.json');
  const files = stackFiles.map((f) => relative(projectDir, f)).sort();
  const urls = (index: CacheIndex) =>
    index.build && index.outputs
      ? new Map(
          files.map((f) => [join(projectDir, f), pathToFileURL(join(cacheDir, index.build!, index.outputs![f]!)).href]),
        )
      : undefined;

  const cached = readJson<CacheIndex>(indexPath);
  if (indexIsCurrent(cached, files, projectDir) && cached.compiler === compilerId()) {
    const modules = urls(cached);
    return { ...(modules ? { modules } : {}), keep: () => {}, drop: () => {} };
  }
  const index = await compile(projectDir, files, cacheDir);
  const modules = urls(index);
  return {
    ...(modules ? { modules } : {}),
    keep: () => writeIndex(indexPath, index),
    drop: () => {
      if (index.build) rmSync(join(cacheDir, index.build), { recursive: true, force: true });
    },
  };
}

/**
 * Points an import of the project's own package (hpcdk's own stacks import
 * `hpcdk`) at the file it names: a self-reference resolves only from inside
 * the package, and the compiled modules live in node_modules.
 */
function selfReference(projectDir: string): Plugin {
  const name = readJson<{ name?: string }>(join(projectDir, 'package.json'))?.name;
  return {
    name: 'hpcdk-self-reference',
    setup(build) {
      if (!name) return;
      const escaped = name.replace(/[.*+?^$()|[\]{}\\]/g, (c) => `\\${c}`);
      const filter = new RegExp(`^${escaped}(/|$)`);
      const resolveFrom = createRequire(join(projectDir, 'package.json'));
      build.onResolve({ filter }, (args) => ({
        path: pathToFileURL(resolveFrom.resolve(args.path)).href,
        external: true,
      }));
    },
  };
}

/** Compiles every stack file in one build; a source bound to its location leaves the build out. */
async function compile(projectDir: string, files: readonly string[], cacheDir: string): Promise<CacheIndex> {
  const esbuild = await import('esbuild');
  const build = `build-${randomBytes(6).toString('hex')}`;
  const outdir = join(cacheDir, build);
  const result = await esbuild.build({
    absWorkingDir: projectDir,
    entryPoints: [...files],
    outdir,
    outbase: projectDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    outExtension: { '.js': '.mjs' },
    entryNames: '[dir]/[name]',
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: 'silent',
    plugins: [selfReference(projectDir)],
  });
  const sources = Object.keys(result.metafile.inputs).filter((p) => !p.includes(':'));
  const inputs: Record<string, string> = {};
  let bound = false;
  for (const path of [...sources, 'package.json', 'tsconfig.json']) {
    const full = join(projectDir, path);
    if (!existsSync(full)) continue;
    inputs[path] = sha256File(full)!;
    if (sources.includes(path) && LOCATION_BOUND.test(readFileSync(full, 'utf8'))) bound = true;
  }
  const base = { format: INDEX_FORMAT, compiler: compilerId(), files, inputs };
  if (bound) {
    rmSync(outdir, { recursive: true, force: true });
    return base;
  }
  const outputs: Record<string, string> = {};
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint) outputs[meta.entryPoint] = relative(outdir, join(projectDir, out));
  }
  return { ...base, build, outputs };
}

/** How old a build no index names must be before it is removed: another hpcdk may be loading it still. */
const STALE_BUILD_MS = 10 * 60_000;

/** Replaces the index in one rename, then removes old builds it no longer names. */
function writeIndex(indexPath: string, index: CacheIndex): void {
  const dir = join(indexPath, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = `${indexPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${JSON.stringify(index, null, 2)}\n`);
  renameSync(tmp, indexPath);
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('build-') || name === index.build) continue;
    const path = join(dir, name);
    try {
      if (statSync(path).mtimeMs < Date.now() - STALE_BUILD_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by another hpcdk meanwhile.
    }
  }
}
