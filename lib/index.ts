// The public API of hpcdk: what stack files and users' tests import.
export * from './core/app.js';
export * from './core/stack.js';
export * from './core/cluster-profile.js';
export * from './core/hpc-construct.js';
export * from './core/output.js';
export * from './core/resource-spec.js';
export * from './core/validation.js';
export { HpcdkError, type HpcdkErrorOptions } from './core/hpcdk-error.js';
export { sha256, digestOf, shortId } from './core/digest.js';
export * from './shell/index.js';
export * from './constructs/index.js';
export * from './synth/manifest.js';
export { synthesizeStack, synthesizeStacks, collectIssues, type StackSynthesis } from './synth/synthesize.js';
export * from './synth/testing.js';
export * from './render/sbatch.js';
export * from './core/runtime.js';
// For users' own constructs: the same zod and constructs hpcdk validates and builds with.
export { z } from 'zod';
export { Construct } from 'constructs';
export * from './render/params.js';
export * from './core/secret.js';
