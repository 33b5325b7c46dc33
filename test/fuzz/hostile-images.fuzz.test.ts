import { IMAGE_ROWS } from './cases.js';
import { fuzzRows } from './harness.js';

// Container images: the Dockerfile, the .def, the build scripts and the jobs that run in them.
fuzzRows('hostile input (container images)', IMAGE_ROWS);
