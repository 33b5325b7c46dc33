import { CONDA_ROWS, PROFILE_ROWS, PYTHON_ROWS, R_ROWS, WHEELHOUSE_ROWS } from './cases.js';
import { fuzzRows } from './harness.js';

// Python environments, conda environments, wheelhouses, R libraries and cluster profiles.
fuzzRows('hostile input (environments, R libraries, profiles)', [
  ...PYTHON_ROWS,
  ...CONDA_ROWS,
  ...WHEELHOUSE_ROWS,
  ...R_ROWS,
  ...PROFILE_ROWS,
]);
