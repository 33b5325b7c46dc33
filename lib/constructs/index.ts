export * from './text-file.js';
export * from './allocation.js';
export * from './job.js';
export * from './schemas.js';
export * from './sweep.js';
export * from './dataset.js';
export * from './code-bundle.js';
