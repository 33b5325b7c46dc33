import { CORE_ROWS, DATA_ROWS, JOB_ROWS, SWEEP_ROWS } from './cases.js';
import { fuzzRows } from './harness.js';

// Stacks, ids, secrets, runtime references, jobs, sweeps, datasets, code bundles and files.
fuzzRows('hostile input (stacks, jobs, sweeps, data, files)', [...CORE_ROWS, ...JOB_ROWS, ...SWEEP_ROWS, ...DATA_ROWS]);
