/**
 * An apply program: what one apply does on a target, as data, in order.
 * lib/apply makes it from a plan; each backend carries it out its own way
 * (the shell backend as one bash script, the automation backend as the
 * helper's steps), printing the same `@@` progress lines and journalling
 * the same records.
 */
import type { BuildSpec, ResourceKind } from '../core/resource-spec.js';
import type { ChunkPoint } from '../render/params.js';
import type { SubmitRequest } from './scheduler.js';

/** A file to upload: where it goes (relative to files/) and its bytes. */
export interface Upload {
  readonly path: string;
  readonly content: string;
  readonly sha256: string;
  readonly executable: boolean;
}

/** Bytes made at apply time, not at synth (a code archive), placed relative to the stack folder. */
export interface Payload {
  readonly path: string;
  readonly base64: string;
}

/** A file step: upload one rendered file, or remove one the stack no longer has. */
export type FileStep = { readonly upload: Upload } | { readonly remove: string };

/** A resource apply builds on the login node, after its files are in place. */
export interface BuildStep {
  readonly address: string;
  readonly kind: ResourceKind;
  readonly identity: string;
  readonly build: BuildSpec;
  /** The `inputs` journal line written once it is built. */
  readonly inputsLine: readonly string[];
}

/** One submission: a job, or one chunk of a sweep's points (an array with its params file). */
export interface Submission {
  readonly request: SubmitRequest;
  readonly chunk?: { readonly id: string; readonly sweep: string; readonly points: readonly ChunkPoint[] };
  /** The `inputs` journal line to write once it is submitted: what it was made of, so a later plan can say what changed. */
  readonly inputsLine: readonly string[];
}

export interface ApplyProgram {
  readonly stack: string;
  /** The journal's serial the plan was made at: the program does nothing if it changed. */
  readonly serial: number;
  /** `apply`, `destroy`: written into the lock's owner line. */
  readonly operation: string;
  readonly files: readonly FileStep[];
  readonly payloads: readonly Payload[];
  readonly builds: readonly BuildStep[];
  /** Secret values for this apply's jobs; never saved with a plan, never printed. */
  readonly secrets: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** Job ids to cancel, before any file is replaced or removed: a queued job may still read them. */
  readonly cancels: readonly string[];
  /** In dependency order. */
  readonly submissions: readonly Submission[];
  /** Addresses whose records the journal forgets (resources that left the stack). */
  readonly forgets: readonly string[];
}
