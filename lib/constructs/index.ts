export * from './text-file.js';
