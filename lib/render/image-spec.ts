/**
 * One container image description, as data, that renders to both a
 * Dockerfile and an Apptainer `.def` (the way NVIDIA's HPCCM does): an
 * ordered list of small building blocks per stage, each of which the two
 * renderers translate with their own file's semantics. Everything here is
 * already validated by the ContainerImage construct.
 */
import { words, type ShellValue } from '../shell/index.js';

/** A base image reference, split: `registry/path/name`, its tag, and an optional `sha256:` digest. */
export interface ImageReference {
  /** Repository, with the registry when given: `docker.io/library/python`, `python`, `scratch`. */
  readonly repository: string;
  readonly tag?: string;
  /** `sha256:<64 hex>`. */
  readonly digest?: string;
}

/** A command run at build time: a line of shell as written, or an argv whose every word is quoted. */
export type ShellCommand = string | readonly ShellValue[];

/** System packages from the base image's apt. */
export interface AptStep {
  readonly kind: 'apt';
  readonly packages: readonly string[];
}

/**
 * Python requirements installed with pip. The seam for Python environments:
 * a PythonEnv construct will hand its lock (pinned requirements) to this same
 * step, so both renderers keep one way of installing Python packages.
 */
export interface PipStep {
  readonly kind: 'pip';
  /** Requirement specifiers, e.g. `numpy==1.26.4`. */
  readonly requirements: readonly string[];
  /** The interpreter that runs pip. */
  readonly python: string;
  /** Extra `pip install` options, e.g. `--break-system-packages`. */
  readonly args: readonly string[];
}

/** A file copied into the image: from the build context, or from an earlier stage. */
export interface CopyStep {
  readonly kind: 'copy';
  /** A path in the build context (the construct's folder), or an absolute path in stage `fromStage`. */
  readonly source: string;
  /** An absolute path in the image. */
  readonly destination: string;
  readonly fromStage?: string;
}

/** Commands run at build time. */
export interface RunStep {
  readonly kind: 'run';
  readonly commands: readonly ShellCommand[];
}

export type ImageStep = AptStep | PipStep | CopyStep | RunStep;

/** One stage: a base and what is done on top of it. */
export interface ImageStage {
  /** Required when the image has more than one stage. */
  readonly name?: string;
  readonly from: ImageReference;
  /** Set for the build and at run time. Sorted by name when rendered. */
  readonly env: Readonly<Record<string, string>>;
  /** Created, and the folder later steps and the container's process run in. */
  readonly workdir?: string;
  readonly steps: readonly ImageStep[];
}

/** The whole image: earlier (builder) stages, then the final one, and what only the final image has. */
export interface ImageSpec {
  /** In order; the last is the image that is built and run. */
  readonly stages: readonly ImageStage[];
  readonly labels: Readonly<Record<string, string>>;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** A smoke test: run as the last build step, so a failing test fails the build. */
  readonly test: readonly ShellCommand[];
}

/** What a renderer is told besides the description: free text for the header comment. */
export interface ImageRenderContext {
  readonly header: readonly string[];
}

// The grammar of docker/distribution's reference package, trimmed to what a base image needs.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?';
const REPOSITORY = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses `repository[:tag][@sha256:hex]`. Returns the reference, or what is
 * wrong with it in words. A base must be pinned by a tag (an untagged name
 * means `:latest`, which moves); `scratch` is the empty base.
 */
export function parseImageReference(text: string): { reference: ImageReference } | { problem: string } {
  if (text === 'scratch') return { reference: { repository: 'scratch' } };
  const at = text.indexOf('@');
  const named = at >= 0 ? text.slice(0, at) : text;
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  if (digest !== undefined && !SHA256_DIGEST.test(digest)) {
    return { problem: 'the digest must be sha256:<64 lowercase hex digits>' };
  }
  // A colon after the last slash starts the tag; one before it is a registry port.
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/');
  const repository = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  if (!REPOSITORY.test(repository)) {
    return {
      problem:
        'must be an image reference such as python:3.11-slim or registry.example.invalid/lab/base:1.0 (lowercase name, optional registry)',
    };
  }
  if (tag === undefined)
    return { problem: 'must name a tag, e.g. python:3.11-slim: without one it means :latest, which moves' };
  if (!TAG.test(tag))
    return { problem: 'the tag must be letters, digits, _ . - (at most 128, not starting with . or -)' };
  return { reference: { repository, tag, ...(digest !== undefined ? { digest } : {}) } };
}

/** The reference as Docker and Apptainer write it: `repository:tag@sha256:…`. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

export function isScratch(ref: ImageReference): boolean {
  return ref.repository === 'scratch';
}

/** Variables sorted by name, so the rendering does not depend on the order they were written in. */
export function sortedEntries(record: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(record).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}

/**
 * The shell text of a build step, one line per command: the same text runs
 * in a Dockerfile `RUN` (`/bin/sh -c`) and in a `.def`'s `%post`.
 */
export function buildStepCommands(step: AptStep | PipStep | RunStep): string[] {
  switch (step.kind) {
    case 'apt':
      // One line, so the package lists never end up in a layer of their own.
      return [
        `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${words(step.packages)} && rm -rf /var/lib/apt/lists/*`,
      ];
    case 'pip':
      return [words([step.python, '-m', 'pip', 'install', '--no-cache-dir', ...step.args, ...step.requirements])];
    case 'run':
      return step.commands.map(renderShellCommand);
  }
}

export function renderShellCommand(command: ShellCommand): string {
  if (typeof command === 'string') return command;
  const [program, ...args] = words(command).split(' ');
  // Apptainer reads a .def line whose first word starts with % as a section header: quote a program such as `%x` (it is bare when plain).
  return [program!.startsWith('%') ? `'${program}'` : program, ...args].join(' ');
}
