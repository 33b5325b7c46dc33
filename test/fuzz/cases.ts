/**
 * The table of the hostile-input suite: every string prop of every public
 * construct (and of ClusterProfile, Stack, Secret and RuntimeRef), each with
 * the smallest valid stack around it, where a rejection must point, and
 * where the value's word is in the rendered files.
 */
import { Construct } from 'constructs';
import {
  CodeBundle,
  CondaEnv,
  ContainerImage,
  Dataset,
  ImageBlock,
  Job,
  PythonEnv,
  RLibrary,
  RuntimeRef,
  Secret,
  Sweep,
  TextFile,
  Wheelhouse,
  type ContainerImageProps,
  type CondaEnvProps,
  type JobProps,
  type PythonEnvProps,
  type RLibraryProps,
  type Stack,
  type SweepProps,
  type SynthResult,
  type WheelhouseProps,
} from '../../lib/index.js';
import { decodeWord, wordEnd } from './shell-lexer.js';
import { PROBE_ENV, joinedPath, sweepParamsFile, type Probe, type Row } from './harness.js';

const SHA = 'a'.repeat(64);

/** A job in `stack` with the given props over a minimal valid one. */
function job(stack: Construct, props: Partial<JobProps> = {}, id = 'job'): Job {
  return new Job(stack, id, { run: [['true']], ...props });
}

/** A rendered file's content ('' when there is none). */
function fileWith(out: SynthResult, path: string): string {
  return out.files[path] ?? '';
}

/** The author's code reaches the script as written (line endings normalised). */
function holdsCode(path: string) {
  return (v: string, out: SynthResult) =>
    fileWith(out, path).includes(v.replace(/\r\n?/g, '\n')) ? undefined : `${path} does not hold the step as written`;
}

/** A Dockerfile string (`"…"` with `\\`, `\"`, `\$` escaped) back to its value. */
function dockerString(text: string): string | undefined {
  const m = /^"((?:[^"\\]|\\.)*)"/.exec(text);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : undefined;
}

/** The Dockerfile's `ENV`/`LABEL` value for `key` is exactly `v`. */
function dockerfileValue(instruction: string, key: string) {
  return (v: string, out: SynthResult) => {
    const line =
      fileWith(out, 'img/Dockerfile')
        .split('\n')
        .find((l) => l.startsWith(`${instruction} `)) ?? '';
    const at = line.indexOf(`${key}=`);
    const got = at < 0 ? undefined : dockerString(line.slice(at + key.length + 1));
    return got === v ? undefined : `Dockerfile ${instruction} ${key} is ${JSON.stringify(got)}`;
  };
}

/** The Dockerfile's exec-form `instruction` holds exactly `[v]`. */
function dockerfileExec(instruction: string) {
  return (v: string, out: SynthResult) => {
    const line =
      fileWith(out, 'img/Dockerfile')
        .split('\n')
        .find((l) => l.startsWith(`${instruction} `)) ?? '';
    const got = JSON.parse(line.slice(instruction.length + 1)) as string[];
    return got.length === 1 && got[0] === v ? undefined : `Dockerfile ${instruction} is ${line.slice(0, 200)}`;
  };
}

/** What the constructs library throws, at the call, for an empty id or the name of an Object.prototype member ('toString', '__proto__'): its children are a plain object. */
const CONSTRUCTS_REFUSES =
  /^Only root constructs may have an empty ID$|^There is already a Construct with name '\w+' in /;

/** The id the constructs library keeps: `/` and newlines become `--`. */
const sanitized = (v: string) => v.replace(/[/\n]/g, '--');

const plainPath = (v: string) => (v.startsWith('~') || v.startsWith('$') ? undefined : v);

// ---------------------------------------------------------------- stacks, ids, secrets, runtime references

export const CORE_ROWS: Row[] = [
  {
    family: 'Stack',
    prop: 'name',
    at: (v) => sanitized(v),
    field: 'id',
    valid: ['fuzz', 'a-b_1'],
    refusedAtCall: CONSTRUCTS_REFUSES,
    stack: (v) => ({ name: v }),
    build: (s) => void job(s),
    accepted: (v, out) => (out.manifest.stack === v ? undefined : `the stack was renamed ${out.manifest.stack}`),
  },
  {
    family: 'Stack',
    prop: 'description',
    at: 'fuzz',
    field: 'description',
    valid: ['two tiers, one experiment'],
    kind: 'text',
    stack: (v) => ({ description: v }),
    build: (s) => void job(s),
  },
  {
    family: 'ids',
    prop: 'Job id',
    at: (v) => `fuzz/${sanitized(v)}`,
    field: 'id',
    valid: ['train', 'a.b+c@d=e-f_1'],
    refusedAtCall: CONSTRUCTS_REFUSES,
    renames: sanitized,
    build: (s, v) => void job(s, {}, v),
    accepted: (v, out) => (out.resources.some((r) => r.address === v) ? undefined : `no resource at the address ${v}`),
  },
  {
    // A plain Construct is the constructs library's: it renames a / or a newline in an id to --, before hpcdk sees it.
    family: 'ids',
    prop: 'scope id (a plain Construct)',
    at: (v) => `fuzz/${sanitized(v)}`,
    field: 'id',
    valid: ['experiments'],
    refusedAtCall: CONSTRUCTS_REFUSES,
    renames: sanitized,
    build: (s, v) => void job(new Construct(s, v)),
    accepted: (v, out) =>
      out.resources.some((r) => r.address === `${sanitized(v)}/job`)
        ? undefined
        : `no resource at the address ${v}/job`,
  },
  {
    family: 'ids',
    prop: 'TextFile id (its file name)',
    at: (v) => `fuzz/${sanitized(v)}`,
    field: 'id',
    valid: ['config.yaml'],
    refusedAtCall: CONSTRUCTS_REFUSES,
    renames: sanitized,
    build: (s, v) => void new TextFile(s, v, { content: 'x\n' }),
    accepted: (v, out) => (out.files[`${v}/${v}`] === 'x\n' ? undefined : `no file ${v}/${v}`),
  },
  {
    family: 'Secret',
    prop: 'Secret.fromEnv(name)',
    at: 'fuzz/job',
    field: 'env',
    valid: ['WANDB_API_KEY'],
    refusedAtCall: /^Secret\.fromEnv: not an environment variable name/,
    build: (s, v) => void job(s, { env: { FUZZ_SECRET: Secret.fromEnv(v) } }),
    probe: { file: 'job/job.sbatch', anchor: 'FUZZ_SECRET="$(cat -- ', expect: (v) => `/stack/.hpcdk/secrets/${v}` },
  },
  {
    family: 'Secret',
    prop: 'Secret.fromTargetFile(path)',
    at: 'fuzz/job',
    field: 'env',
    valid: ['/secrets/aws', '~/.secrets/aws', '$HOME/x'],
    refusedAtCall: /^Secret\.fromTargetFile: needs a path/,
    // `~/x` and `$HOME/x` become references to the target's home: another shape of word.
    structureMayChange: true,
    build: (s, v) => void job(s, { env: { FUZZ_SECRET: Secret.fromTargetFile(v) } }),
    probe: { file: 'job/job.sbatch', anchor: 'FUZZ_SECRET="$(cat -- ', expect: plainPath },
  },
  {
    family: 'RuntimeRef',
    prop: 'RuntimeRef.env(name)',
    at: 'fuzz/job',
    field: 'workdir',
    valid: ['FUZZ_DIR'],
    refusedAtCall: /^not an environment variable name: /,
    build: (s, v) => void job(s, { workdir: RuntimeRef.env(v).join('x') }),
    probe: {
      file: 'job/job.sbatch',
      anchor: '\ncd -- ',
      expect: (v) => (Object.hasOwn(PROBE_ENV, v) ? `${PROBE_ENV[v]}/x` : undefined),
    },
  },
];

// ---------------------------------------------------------------- jobs and sweeps

const jobRow = rowsOf<JobProps>('Job', 'job', (s, props) => void job(s, props));
const inJob = (anchor: string, expect?: Probe['expect']): Partial<Row> => ({
  probe: { file: 'job/job.sbatch', anchor, ...(expect ? { expect } : {}) },
});
const allocation = (
  prop: string,
  valid: string[],
  props: (v: string) => JobProps['allocation'],
  directive?: string,
  field = prop,
): Row =>
  jobRow(
    `allocation.${prop}`,
    `allocation.${field}`,
    valid,
    (v) => ({ allocation: props(v) }),
    directive ? inJob(`#SBATCH --${directive}=`) : {},
  );

export const JOB_ROWS: Row[] = [
  jobRow('run[0] (a line of shell)', 'run', ['python train.py --lr "$LR"'], (v) => ({ run: [v] }), {
    kind: 'code',
    accepted: holdsCode('job/job.sbatch'),
  }),
  jobRow(
    'run[0][1] (an argv word)',
    'run',
    ['--lr=0.1'],
    (v) => ({ run: [['fuzz_probe', v]] }),
    inJob('\nfuzz_probe '),
  ),
  jobRow(
    'run[1][0] (the program of an argv)',
    'run',
    ['python3'],
    (v) => ({ run: [['true'], [v, 'fuzz-arg']] }),
    inJob('\ntrue\n'),
  ),
  jobRow(
    'run[0][1] (a RuntimeRef path segment)',
    'run',
    ['data/train'],
    (v) => ({ run: [['fuzz_probe', RuntimeRef.env('HOME').join('d', v)]] }),
    inJob('\nfuzz_probe ', (v) => joinedPath('HOME', v)),
  ),
  allocation('account', ['def-lab'], (v) => ({ account: v }), 'account'),
  allocation('partition', ['cpu', 'gpu'], (v) => ({ partition: v }), 'partition'),
  allocation('time', ['02:00:00', '1-12:00:00', '90'], (v) => ({ time: v }), 'time'),
  allocation('mem', ['64G', '4000'], (v) => ({ mem: v }), 'mem'),
  allocation('gpus.type', ['a100'], (v) => ({ partition: 'gpu', gpus: { type: v, count: 1 } })),
  allocation('constraint', ['skylake', 'a100,ib'], (v) => ({ constraint: v }), 'constraint'),
  allocation('qos', ['normal'], (v) => ({ qos: v }), 'qos'),
  allocation('mail.user', ['me@example.org'], (v) => ({ mail: { user: v, type: ['FAIL'] } }), 'mail-user'),
  allocation('extra (option name)', ['exclusive-user'], (v) => ({ extra: { [v]: 'x' } }), undefined, 'extra'),
  allocation('extra (value)', ['user'], (v) => ({ extra: { exclusive: v } }), 'exclusive', 'extra'),
  jobRow('env (name)', 'env', ['FUZZ_NAME'], (v) => ({ env: { [v]: 'x' } })),
  jobRow(
    'env (value)',
    'env',
    ['configs/mini.yaml'],
    (v) => ({ env: { FUZZ_VALUE: v } }),
    inJob('\nexport FUZZ_VALUE='),
  ),
  jobRow(
    'env (a RuntimeRef path segment)',
    'env',
    ['cache/hf'],
    (v) => ({ env: { FUZZ_VALUE: RuntimeRef.env('HOME').join('d', v) } }),
    inJob('\nexport FUZZ_VALUE=', (v) => joinedPath('HOME', v)),
  ),
  jobRow('caches (name)', 'caches', ['HF_HOME'], (v) => ({ caches: { [v]: '.cache/hf' } })),
  jobRow(
    'caches (path)',
    'caches',
    ['.cache/huggingface'],
    (v) => ({ caches: { FUZZ_CACHE: v } }),
    inJob('\nexport FUZZ_CACHE=', (v) =>
      ['/node-local', ...v.split('/').filter((x) => x !== '' && x !== '.')].join('/'),
    ),
  ),
  jobRow('workdir', 'workdir', ['/project/run'], (v) => ({ workdir: v }), inJob('\ncd -- ')),
  jobRow(
    'workdir (a RuntimeRef path segment)',
    'workdir',
    ['tinydesk'],
    (v) => ({ workdir: RuntimeRef.env('HOME').join('d', v) }),
    inJob('\ncd -- ', (v) => joinedPath('HOME', v)),
  ),
  jobRow('stdout', 'stdout', ['logs/train/%x-%j.out'], (v) => ({ stdout: v }), inJob('#SBATCH --output=')),
  jobRow('stderr', 'stderr', ['logs/train/%x-%j.err'], (v) => ({ stderr: v }), inJob('#SBATCH --error=')),
  jobRow('checkpoint.hook', 'checkpoint.hook', ['kill -USR1 "$HPCDK_STEP_PID"'], (v) => ({ checkpoint: { hook: v } }), {
    kind: 'code',
  }),
];

const sweep = (props: Partial<SweepProps>) => (s: Stack) => void new Sweep(s, 'sweep', { run: [['true']], ...props });

export const SWEEP_ROWS: Row[] = [
  {
    family: 'Sweep',
    prop: 'grid (parameter name)',
    at: 'fuzz/sweep',
    field: 'grid',
    valid: ['lr', 'seed_2'],
    build: (s, v) => sweep({ grid: { [v]: [1, 2] } })(s),
    applyFiles: sweepParamsFile('sweep'),
  },
  {
    family: 'Sweep',
    prop: 'grid (a value)',
    at: 'fuzz/sweep',
    field: 'grid',
    valid: ['0.001', 'configs/a b.yaml'],
    build: (s, v) => sweep({ grid: { fuzz: [v] } })(s),
    applyFiles: sweepParamsFile('sweep'),
    probe: { file: 'sweep/params.sh', anchor: 'export fuzz=' },
  },
  {
    family: 'Sweep',
    prop: 'points (parameter name)',
    at: 'fuzz/sweep',
    field: 'points',
    valid: ['model'],
    build: (s, v) => sweep({ points: [{ [v]: 'yolo' }] })(s),
    applyFiles: sweepParamsFile('sweep'),
  },
  {
    family: 'Sweep',
    prop: 'points (a value)',
    at: 'fuzz/sweep',
    field: 'points',
    valid: ['yolov8n'],
    build: (s, v) => sweep({ points: [{ model: v }] })(s),
    applyFiles: sweepParamsFile('sweep'),
    probe: { file: 'sweep/params.sh', anchor: 'export model=' },
  },
  {
    family: 'Sweep',
    prop: 'run[0][1] (an argv word)',
    at: 'fuzz/sweep',
    field: 'run',
    valid: ['--epochs=3'],
    build: (s, v) => sweep({ grid: { lr: [1] }, run: [['fuzz_probe', v, Sweep.param('lr')]] })(s),
    probe: { file: 'sweep/sweep.sbatch', anchor: '\nfuzz_probe ' },
  },
  {
    family: 'Sweep',
    prop: 'env (value)',
    at: 'fuzz/sweep',
    field: 'env',
    valid: ['x'],
    build: (s, v) => sweep({ grid: { lr: [1] }, env: { FUZZ_VALUE: v } })(s),
    probe: { file: 'sweep/sweep.sbatch', anchor: '\nexport FUZZ_VALUE=' },
  },
  {
    family: 'Sweep',
    prop: 'sweep.param(name)',
    at: 'fuzz/sweep',
    field: 'param',
    valid: ['lr'],
    build: (s, v) => {
      const sw = new Sweep(s, 'sweep', { grid: { lr: [1] }, run: [['true']] });
      job(s, { run: [['fuzz_probe', sw.param(v)]] });
    },
  },
];

// ---------------------------------------------------------------- datasets, code bundles, files

const dataset = (props: (v: string) => Partial<ConstructorParameters<typeof Dataset>[2]>) => (s: Stack, v: string) => {
  const data = new Dataset(s, 'data', { source: '/project/data', mode: 'copy', ...props(v) });
  job(s, { stage: [data] });
};

export const DATA_ROWS: Row[] = [
  {
    family: 'Dataset',
    prop: 'source',
    at: 'fuzz/data',
    field: 'source',
    valid: ['/project/data/fb_yolo'],
    build: dataset((v) => ({ source: v })),
    probe: { file: 'data/stage.sh', anchor: '\nsrc=' },
  },
  {
    family: 'Dataset',
    prop: 'source (mode from the extension)',
    at: 'fuzz/data',
    field: 'source',
    valid: ['/project/data/fb_yolo.zip'],
    structureMayChange: true,
    build: (s, v) => {
      const data = new Dataset(s, 'data', { source: v });
      job(s, { stage: [data] });
    },
    probe: { file: 'data/stage.sh', anchor: '\nsrc=' },
  },
  {
    family: 'Dataset',
    prop: 'source (a RuntimeRef path segment)',
    at: 'fuzz/data',
    field: 'source',
    valid: ['scratch/fb_data'],
    build: dataset((v) => ({ source: RuntimeRef.env('HOME').join('d', v) })),
    probe: { file: 'data/stage.sh', anchor: '\nsrc=', expect: (v) => joinedPath('HOME', v) },
  },
  {
    family: 'Dataset',
    prop: 'destination',
    at: 'fuzz/data',
    field: 'destination',
    valid: ['fb_yolo', 'a/b'],
    build: dataset((v) => ({ destination: v })),
    probe: { file: 'data/stage.sh', anchor: '\ndest=', expect: (v) => `/scratch/${v}` },
  },
  {
    family: 'Dataset',
    prop: 'sha256',
    at: 'fuzz/data',
    field: 'sha256',
    valid: [SHA],
    build: dataset((v) => ({ sha256: v })),
  },
  {
    family: 'CodeBundle',
    prop: 'paths[0]',
    at: 'fuzz/code',
    field: 'paths',
    valid: ['src', 'src/train.py', 'requirements.txt'],
    runs: 40,
    build: (s, v) => {
      const code = new CodeBundle(s, 'code', { paths: [v] });
      job(s, { code, workdir: code.dir });
    },
  },
  {
    family: 'TextFile',
    prop: 'content',
    at: 'fuzz/notes',
    field: 'content',
    valid: ['lr: 0.001\n'],
    kind: 'text',
    build: (s, v) => void new TextFile(s, 'notes', { content: v }),
    accepted: (v, out) =>
      out.files['notes/notes'] === v.replace(/\r\n?/g, '\n') ? undefined : 'the file does not hold the content',
  },
  {
    family: 'TextFile',
    prop: 'content (executable)',
    at: 'fuzz/notes',
    field: 'content',
    valid: ['#!/bin/sh\necho hi\n'],
    kind: 'text',
    build: (s, v) => void new TextFile(s, 'notes', { content: v, executable: true }),
    accepted: (v, out) =>
      out.files['notes/notes'] === v.replace(/\r\n?/g, '\n') ? undefined : 'the file does not hold the content',
  },
  {
    family: 'TextFile',
    prop: 'fileName',
    at: 'fuzz/notes',
    field: 'fileName',
    valid: ['config.yaml', 'a+b@c=d'],
    kind: 'text',
    build: (s, v) => void new TextFile(s, 'notes', { content: 'x\n', fileName: v }),
    accepted: (v, out) => (out.files[`notes/${v}`] === 'x\n' ? undefined : `no file notes/${v}`),
  },
];

// ---------------------------------------------------------------- Python environments

/**
 * Rows of one construct family: `make` puts the construct, with a row's props
 * over its minimal valid ones, at `fuzz/<id>` (and a job that uses it).
 */
function rowsOf<P>(family: string, id: string, make: (s: Stack, props: Partial<P>) => void) {
  return (
    prop: string,
    field: string,
    valid: string[],
    props: (v: string) => Partial<P>,
    extra: Partial<Row> = {},
  ): Row => ({
    family,
    prop,
    at: `fuzz/${id}`,
    field,
    valid,
    build: (s, v) => make(s, props(v)),
    ...extra,
  });
}

const envRow = rowsOf<PythonEnvProps>('PythonEnv', 'env', (s, props) => {
  const env = new PythonEnv(s, 'env', {
    requirements: ['numpy==1.26.4'],
    modules: ['python/3.11.5'],
    smoke: { imports: ['numpy'] },
    ...props,
  });
  job(s, { environment: env });
});

export const PYTHON_ROWS: Row[] = [
  envRow('python', 'python', ['3.11', '3.11.5'], (v) => ({ python: v })),
  envRow(
    'interpreter',
    'interpreter',
    ['python3.11', '/usr/bin/python3'],
    (v) => ({ interpreter: v, tool: 'virtualenv' }),
    { probe: { file: 'env/bootstrap.sh', anchor: '--python ' } },
  ),
  envRow('modules[0]', 'modules', ['python/3.11.5', 'scipy-stack/2024a'], (v) => ({ modules: [v] }), {
    probe: { file: 'env/bootstrap.sh', anchor: '\nmodule load ', targets: ['slurm'] },
  }),
  envRow(
    'requirements[0]',
    'requirements',
    ['numpy==1.26.4', 'requests~=2.31.0', 'torch[cuda]==2.1.0; python_version >= "3.10"'],
    (v) => ({ requirements: [v] }),
  ),
  envRow('pipOnly[0]', 'pipOnly', ['ultralytics==8.0.196'], (v) => ({ pipOnly: [v] })),
  envRow('indexUrls[0]', 'indexUrls', ['https://index.example.invalid/simple'], (v) => ({ indexUrls: [v] }), {
    probe: { file: 'env/bootstrap.sh', anchor: '--index-url ' },
  }),
  envRow('extraIndexUrls[0]', 'extraIndexUrls', ['file:///cvmfs/wheels'], (v) => ({ extraIndexUrls: [v] }), {
    probe: { file: 'env/bootstrap.sh', anchor: '--extra-index-url ' },
  }),
  envRow(
    'findLinks[0]',
    'findLinks',
    ['/cvmfs/soft.computecanada.ca/custom/python/wheelhouse'],
    (v) => ({ findLinks: [v] }),
    { probe: { file: 'env/bootstrap.sh', anchor: '--find-links ' } },
  ),
  envRow(
    'findLinks[0] (a RuntimeRef path segment)',
    'findLinks',
    ['project/dist'],
    (v) => ({ findLinks: [RuntimeRef.env('HOME').join('d', v)] }),
    {
      probe: {
        file: 'env/bootstrap.sh',
        anchor: '--find-links ',
        expect: (v) => joinedPath('HOME', v),
      },
    },
  ),
  envRow('smoke.imports[0]', 'smoke.imports', ['torch.nn'], (v) => ({ smoke: { imports: [v] } })),
  envRow('smoke.versions[0]', 'smoke.versions', ['numpy'], (v) => ({ smoke: { imports: ['numpy'], versions: [v] } })),
  envRow('location', 'location', ['/project/envs/train'], (v) => ({ location: v }), {
    probe: { file: 'env/bootstrap.sh', anchor: '\nenv_dir=' },
  }),
  envRow(
    'location (a RuntimeRef path segment)',
    'location',
    ['envs/train'],
    (v) => ({ location: RuntimeRef.env('HOME').join('d', v) }),
    {
      probe: {
        file: 'env/bootstrap.sh',
        anchor: '\nenv_dir=',
        expect: (v) => joinedPath('HOME', v),
      },
    },
  ),
];

const condaRow = rowsOf<CondaEnvProps>('CondaEnv', 'conda', (s, props) => {
  const env = new CondaEnv(s, 'conda', {
    channels: ['conda-forge'],
    dependencies: ['numpy=1.26'],
    pip: ['requests==2.31.0'],
    ...props,
  });
  job(s, { environment: env });
});

export const CONDA_ROWS: Row[] = [
  condaRow('name', 'name', ['tinydesk'], (v) => ({ name: v })),
  condaRow('location', 'location', ['/project/conda/tinydesk'], (v) => ({ location: v }), {
    probe: { file: 'conda/bootstrap.sh', anchor: '\nprefix=' },
  }),
  condaRow('channels[0]', 'channels', ['conda-forge', 'https://conda.example.invalid/main'], (v) => ({
    channels: [v],
  })),
  condaRow('python', 'python', ['3.11'], (v) => ({ python: v })),
  condaRow('dependencies[0]', 'dependencies', ['numpy=1.26', 'pytorch>=2.1,<3', 'conda-forge::scipy==1.11.4'], (v) => ({
    dependencies: [v],
  })),
  condaRow('pip[0]', 'pip', ['requests==2.31.0'], (v) => ({ pip: [v] })),
  condaRow('pipOnly[0]', 'pipOnly', ['ultralytics==8.0.196'], (v) => ({ pipOnly: [v] })),
  condaRow('modules[0]', 'modules', ['miniconda3/23.1'], (v) => ({ modules: [v] }), {
    probe: { file: 'conda/bootstrap.sh', anchor: '\nmodule load ', targets: ['slurm'] },
  }),
  condaRow('smoke.imports[0]', 'smoke.imports', ['numpy'], (v) => ({ smoke: { imports: [v] } })),
];

const wheelRow = rowsOf<WheelhouseProps>('Wheelhouse', 'wheels', (s, props) => {
  const house = new Wheelhouse(s, 'wheels', { requirements: ['numpy==1.26.4'], ...props });
  const env = new PythonEnv(s, 'env', { requirements: ['numpy==1.26.4'], findLinks: [house], noIndex: true });
  job(s, { environment: env });
});

export const WHEELHOUSE_ROWS: Row[] = [
  wheelRow('location', 'location', ['/project/wheelhouse'], (v) => ({ location: v }), {
    probe: { file: 'wheels/gather.sh', anchor: '\nwheel_dir=' },
  }),
  wheelRow('projects[0]', 'projects', ['/project/flat-bug'], (v) => ({ projects: [v] }), {
    probe: { file: 'wheels/gather.sh', anchor: '--wheel-dir "$wheel_dir" ' },
  }),
  wheelRow(
    'projects[0] (a RuntimeRef path segment)',
    'projects',
    ['flat-bug'],
    (v) => ({ projects: [RuntimeRef.env('HOME').join('d', v)] }),
    {
      probe: {
        file: 'wheels/gather.sh',
        anchor: '--wheel-dir "$wheel_dir" ',
        expect: (v) => joinedPath('HOME', v),
      },
    },
  ),
  wheelRow('requirements[0]', 'requirements', ['torch==2.1.0'], (v) => ({ requirements: [v] })),
  wheelRow('interpreter', 'interpreter', ['python3.11'], (v) => ({ interpreter: v })),
  wheelRow('modules[0]', 'modules', ['python/3.11.5'], (v) => ({ modules: [v] }), {
    probe: { file: 'wheels/gather.sh', anchor: '\nmodule load ', targets: ['slurm'] },
  }),
  wheelRow('indexUrls[0]', 'indexUrls', ['https://index.example.invalid/simple'], (v) => ({ indexUrls: [v] }), {
    probe: { file: 'wheels/gather.sh', anchor: '--index-url ' },
  }),
  wheelRow(
    'extraIndexUrls[0]',
    'extraIndexUrls',
    ['https://download.pytorch.org/whl/cu121'],
    (v) => ({ extraIndexUrls: [v] }),
    { probe: { file: 'wheels/gather.sh', anchor: '--extra-index-url ' } },
  ),
  wheelRow('findLinks[0]', 'findLinks', ['/project/mirror'], (v) => ({ findLinks: [v] }), {
    probe: { file: 'wheels/gather.sh', anchor: '--find-links ' },
  }),
];

const rRow = rowsOf<RLibraryProps>('RLibrary', 'rlib', (s, props) => {
  const lib = new RLibrary(s, 'rlib', {
    packages: { 'data.table': '1.14.8' },
    repos: ['https://cloud.r-project.org'],
    modules: ['r/4.3.1'],
    ...props,
  } as RLibraryProps);
  job(s, { environment: lib });
});

export const R_ROWS: Row[] = [
  rRow('r', 'r', ['4.3', '4.3.1'], (v) => ({ r: v })),
  rRow('modules[0]', 'modules', ['r/4.3.1'], (v) => ({ modules: [v] }), {
    probe: { file: 'rlib/bootstrap.sh', anchor: '\nmodule load ', targets: ['slurm'] },
  }),
  rRow('packages (name)', 'packages', ['data.table', 'ggplot2'], (v) => ({ packages: { [v]: '1.14.8' } })),
  rRow('packages (version)', 'packages', ['1.14.8', '7.3-60'], (v) => ({ packages: { 'data.table': v } })),
  rRow("packages[0] ('name==version')", 'packages', ['data.table==1.14.8'], (v) => ({ packages: [v] })),
  rRow('repos[0]', 'repos', ['https://cloud.r-project.org'], (v) => ({ repos: [v] }), {
    probe: { file: 'rlib/bootstrap.sh', anchor: '\nrepos=(' },
  }),
  // A `$HOME/…` path becomes a reference to the target's home: another shape of word.
  rRow('localRepo', 'localRepo', ['/project/rrepo', '$HOME/rrepo'], (v) => ({ repos: undefined, localRepo: v }), {
    structureMayChange: true,
  }),
  rRow('location', 'location', ['/project/rlib'], (v) => ({ location: v }), {
    probe: { file: 'rlib/bootstrap.sh', anchor: '\nlib_dir=' },
  }),
];

// ---------------------------------------------------------------- container images

const BASE_IMAGE: ContainerImageProps = { from: 'python:3.11-slim', test: ['python3 -c "import sys"'] };

/** An image with `props` over a minimal one, run by a GPU job (so every run path renders). */
const image =
  (props: (v: string) => Partial<ContainerImageProps>, after?: (img: ContainerImage, v: string) => void) =>
  (s: Stack, v: string) => {
    const img = new ContainerImage(s, 'img', { ...BASE_IMAGE, ...props(v) });
    after?.(img, v);
    job(s, { image: img, allocation: { partition: 'gpu', gpus: { type: 'a100', count: 1 } } });
  };

const imageRow = rowsOf<ContainerImageProps>('ContainerImage', 'img', (s, props) => image(() => props)(s, ''));

const inDef = (anchor: string): Row['probe'] => ({ file: 'img/image.def', anchor, sh: true });

export const IMAGE_ROWS: Row[] = [
  imageRow(
    'from',
    'from',
    ['python:3.11-slim', `registry.example.invalid:5000/lab/base:1.0@sha256:${SHA}`, 'scratch'],
    (v) => ({ from: v, test: [] }),
  ),
  imageRow('steps[0] apt package', 'steps[0]', ['git', 'curl=7.88.1-10+deb12u5'], (v) => ({
    steps: [ImageBlock.apt([v])],
  })),
  imageRow('steps[0] pip requirement', 'steps[0]', ['numpy==1.26.4'], (v) => ({ steps: [ImageBlock.pip([v])] }), {
    probe: inDef('-m pip install --no-cache-dir '),
  }),
  imageRow('steps[0] pip python', 'steps[0]', ['python3', '/opt/venv/bin/python'], (v) => ({
    steps: [ImageBlock.pip(['numpy==1.26.4'], { python: v })],
  })),
  imageRow(
    'steps[0] pip args[0]',
    'steps[0]',
    ['--break-system-packages'],
    (v) => ({ steps: [ImageBlock.pip(['numpy==1.26.4'], { args: [v] })] }),
    { probe: inDef('-m pip install --no-cache-dir ') },
  ),
  imageRow(
    'steps[0] copy source',
    'steps[0]',
    ['src/train.py', 'requirements.txt'],
    (v) => ({ steps: [ImageBlock.copy(v, '/opt/app/file')] }),
    { structureMayChange: true },
  ),
  imageRow('steps[0] copy destination', 'steps[0]', ['/opt/app/train.py'], (v) => ({
    steps: [ImageBlock.copy('src/train.py', v)],
  })),
  imageRow('steps[0] copyFromStage stage', 'steps[0]', ['builder'], (v) => ({
    stages: [{ name: 'builder', from: 'python:3.11' }],
    steps: [ImageBlock.copyFromStage(v, '/out', '/opt/out')],
  })),
  imageRow('steps[0] copyFromStage source', 'steps[0]', ['/out/app.whl'], (v) => ({
    stages: [{ name: 'builder', from: 'python:3.11' }],
    steps: [ImageBlock.copyFromStage('builder', v, '/opt/out')],
  })),
  imageRow(
    'steps[0] run (a line of shell)',
    'steps[0]',
    ['make -C /opt/app'],
    (v) => ({ steps: [ImageBlock.run(v)] }),
    { kind: 'code' },
  ),
  imageRow(
    'steps[0] run (an argv word)',
    'steps[0]',
    ['--prefix=/opt'],
    (v) => ({ steps: [ImageBlock.run(['fuzz_probe', v])] }),
    { probe: inDef('\n    fuzz_probe ') },
  ),
  imageRow(
    'steps[0] run (the program of an argv)',
    'steps[0]',
    ['make'],
    (v) => ({ steps: [ImageBlock.run(['true'], [v, 'fuzz-arg'])] }),
    { probe: inDef('\n    true\n    ') },
  ),
  imageRow('stages[0].name', 'stages[0]', ['builder'], (v) => ({ stages: [{ name: v, from: 'python:3.11' }] })),
  imageRow('stages[0].from', 'stages[0]', ['rust:1.75'], (v) => ({ stages: [{ name: 'builder', from: v }] })),
  imageRow(
    'stages[0].env (value)',
    'stages[0]',
    ['1'],
    (v) => ({ stages: [{ name: 'builder', from: 'python:3.11', env: { FUZZ_VALUE: v } }] }),
    { probe: inDef('    export FUZZ_VALUE=') },
  ),
  imageRow(
    'stages[0].workdir',
    'stages[0]',
    ['/build'],
    (v) => ({ stages: [{ name: 'builder', from: 'python:3.11', workdir: v }] }),
    { probe: inDef('mkdir -p -- ') },
  ),
  imageRow('stageName', 'stageName', ['final', 'runtime'], (v) => ({
    stages: [{ name: 'builder', from: 'python:3.11' }],
    stageName: v,
  })),
  imageRow('env (name)', 'env', ['PIP_NO_CACHE_DIR'], (v) => ({ env: { [v]: '1' } })),
  imageRow('env (value)', 'env', ['/opt/venv/bin:/usr/bin'], (v) => ({ env: { FUZZ_VALUE: v } }), {
    probe: inDef('    export FUZZ_VALUE='),
    accepted: dockerfileValue('ENV', 'FUZZ_VALUE'),
  }),
  imageRow('workdir', 'workdir', ['/opt/app'], (v) => ({ workdir: v }), { probe: inDef('mkdir -p -- ') }),
  imageRow('entrypoint[0]', 'entrypoint', ['/opt/app/run'], (v) => ({ entrypoint: [v] }), {
    probe: inDef('\n    exec '),
    accepted: dockerfileExec('ENTRYPOINT'),
  }),
  imageRow('cmd[0]', 'cmd', ['--help'], (v) => ({ cmd: [v] }), {
    probe: inDef('set -- '),
    accepted: dockerfileExec('CMD'),
  }),
  imageRow('labels (key)', 'labels', ['org.example.owner'], (v) => ({ labels: { [v]: 'x' } })),
  imageRow('labels (value)', 'labels', ['lab of fuzz'], (v) => ({ labels: { fuzzkey: v } }), {
    accepted: (v, out) =>
      dockerfileValue('LABEL', '"fuzzkey"')(v, out) ??
      (fileWith(out, 'img/image.def').includes(`\n    fuzzkey ${v}\n`)
        ? undefined
        : 'the .def label line is not the value'),
  }),
  imageRow('test[0] (a line of shell)', 'test', ['python3 -c "import torch"'], (v) => ({ test: [v] }), {
    kind: 'code',
  }),
  imageRow('test[0] (an argv word)', 'test', ['import torch'], (v) => ({ test: [['fuzz_probe', v]] }), {
    accepted: (v, out) => {
      // check.sh hands the test to `/bin/sh -c` as one quoted word, which holds the quoted argv.
      const check = fileWith(out, 'img/check.sh');
      const at = check.indexOf('/bin/sh -c ') + '/bin/sh -c '.length;
      const inner = decodeWord(check.slice(at, wordEnd(check, at)), PROBE_ENV);
      const start = inner.indexOf('fuzz_probe ') + 'fuzz_probe '.length;
      const got = decodeWord(inner.slice(start, wordEnd(inner, start)), PROBE_ENV);
      return got === v ? undefined : `check.sh's test word decodes to ${JSON.stringify(got)}`;
    },
  }),
  imageRow('imageName', 'imageName', ['localhost/fuzz-image'], (v) => ({ imageName: v })),
  imageRow('binds[0]', 'binds', ['/project/data'], (v) => ({ binds: [v] }), {
    probe: { file: 'job/job.sbatch', anchor: '--bind "${HPCDK_STACK_DIR}" --bind ' },
  }),
  imageRow(
    'binds[0] (a RuntimeRef path segment)',
    'binds',
    ['data'],
    (v) => ({ binds: [RuntimeRef.env('HOME').join('d', v)] }),
    {
      probe: {
        file: 'job/job.sbatch',
        anchor: '--bind "${HPCDK_STACK_DIR}" --bind ',
        expect: (v) => joinedPath('HOME', v),
      },
    },
  ),
  imageRow(
    'podman.globalArgs[0]',
    'podman.globalArgs',
    ['--storage-driver=vfs'],
    (v) => ({ podman: { globalArgs: [v] } }),
    { probe: { file: 'img/build.sh', anchor: /\n\s*podman / } },
  ),
  imageRow('podman.buildArgs[0]', 'podman.buildArgs', ['--isolation=chroot'], (v) => ({ podman: { buildArgs: [v] } }), {
    probe: { file: 'img/build.sh', anchor: /\n\s*podman build / },
  }),
  imageRow('podman.runArgs[0]', 'podman.runArgs', ['--runtime=runc'], (v) => ({ podman: { runArgs: [v] } }), {
    probe: { file: 'job/job.sbatch', anchor: 'run --rm ' },
  }),
  imageRow(
    'podman.gpuArgs[0]',
    'podman.gpuArgs',
    ['--device=nvidia.com/gpu=all'],
    (v) => ({ podman: { gpuArgs: [v] } }),
    { probe: { file: 'job/job.sbatch', anchor: 'run --rm ' } },
  ),
  imageRow(
    'apptainer.buildArgs[0]',
    'apptainer.buildArgs',
    ['--fakeroot'],
    (v) => ({ apptainer: { buildArgs: [v] } }),
    { probe: { file: 'img/build.sh', anchor: 'build --force ' } },
  ),
  imageRow('apptainer.execArgs[0]', 'apptainer.execArgs', ['--cleanenv'], (v) => ({ apptainer: { execArgs: [v] } }), {
    probe: { file: 'img/check.sh', anchor: '"$hpcdk_runner" exec ' },
  }),
  {
    family: 'ContainerImage',
    prop: 'addSteps(run argv word)',
    at: 'fuzz/img',
    field: 'addSteps',
    valid: ['--jobs=4'],
    build: image(
      () => ({}),
      (img, v) => img.addSteps(ImageBlock.run(['fuzz_probe', v])),
    ),
    probe: inDef('\n    fuzz_probe '),
  },
  {
    family: 'ContainerImage',
    prop: 'setEntrypoint([word])',
    at: 'fuzz/img',
    field: 'entrypoint',
    valid: ['/opt/app/run'],
    build: image(
      () => ({}),
      (img, v) => img.setEntrypoint([v]),
    ),
    probe: inDef('\n    exec '),
    accepted: dockerfileExec('ENTRYPOINT'),
  },
];

// ---------------------------------------------------------------- cluster profiles

/** A stack that shows every profile field: a job with defaults and env, and a Python environment on the profile's modules and init files. */
const profileStack = (s: Stack) => {
  const env = new PythonEnv(s, 'env', { requirements: ['numpy==1.26.4'], modules: ['python/3.11.5'] });
  job(s, { environment: env });
};

const profileRow = (
  prop: string,
  field: string,
  valid: string[],
  profile: (v: string) => Record<string, unknown>,
  extra: Partial<Row> = {},
): Row => ({
  family: 'ClusterProfile',
  prop,
  at: 'target:fuzzcluster',
  field,
  valid,
  profile,
  build: profileStack,
  ...extra,
});

export const PROFILE_ROWS: Row[] = [
  profileRow('name', 'name', ['narval', 'tier1-l4'], () => ({}), { profileName: (v) => v, at: (v) => `target:${v}` }),
  profileRow('ssh.host', 'ssh.host', ['narval', 'login1.example.invalid'], (v) => ({ ssh: { host: v } }), {
    accepted: (v) => (v.startsWith('-') ? 'a host that ssh would read as an option' : undefined),
  }),
  profileRow('ssh.user', 'ssh.user', ['fuzzer'], (v) => ({ ssh: { host: 'h', user: v } })),
  profileRow('ssh.proxyJump', 'ssh.proxyJump', ['jump.example.invalid'], (v) => ({ ssh: { host: 'h', proxyJump: v } })),
  profileRow('basePath', 'basePath', ['~/.hpcdk', '/project/def-lab/hpcdk'], (v) => ({ basePath: v })),
  profileRow(
    'partitions (name)',
    'partitions',
    ['cpu', 'gpu_a100'],
    (v) => ({ partitions: { [v]: { maxTime: '1-00:00:00' } } }),
    {
      probe: { file: 'job/job.sbatch', anchor: '#SBATCH --partition=', targets: ['slurm'] },
    },
  ),
  profileRow('partitions.cpu.maxTime', 'partitions', ['1-00:00:00'], (v) => ({ partitions: { cpu: { maxTime: v } } })),
  profileRow('partitions.cpu.memPerNode', 'partitions', ['512G'], (v) => ({ partitions: { cpu: { memPerNode: v } } })),
  profileRow('partitions.cpu.gpus (type)', 'partitions', ['a100'], (v) => ({
    partitions: { cpu: { gpus: { [v]: 4 } } },
  })),
  profileRow('partitions.cpu.gpuMemoryGb (type)', 'partitions', ['a100'], (v) => ({
    partitions: { cpu: { gpuMemoryGb: { [v]: 40 } } },
  })),
  profileRow('defaultPartition', 'defaultPartition', ['gpu'], (v) => ({ defaultPartition: v }), {
    probe: { file: 'job/job.sbatch', anchor: '#SBATCH --partition=', targets: ['slurm'] },
  }),
  profileRow('account', 'account', ['def-lab', 'rrg-lab_gpu'], (v) => ({ account: v }), {
    probe: { file: 'job/job.sbatch', anchor: '#SBATCH --account=', targets: ['slurm'] },
  }),
  profileRow(
    'shellInit[0]',
    'shellInit',
    ['/etc/profile.d/lmod.sh', '$HOME/miniconda3/etc/profile.d/conda.sh', '~/conda.sh'],
    (v) => ({ shellInit: [v] }),
    {
      probe: { file: 'env/bootstrap.sh', anchor: '\nsource ', expect: plainPath, targets: ['slurm'] },
      structureMayChange: true,
    },
  ),
  profileRow('scratchVar', 'scratchVar', ['SLURM_TMPDIR'], (v) => ({ scratchVar: v })),
  profileRow('env (name)', 'env', ['TRAIN_CONFIG'], (v) => ({ env: { [v]: 'x' } })),
  profileRow('env (value)', 'env', ['configs/mini.yaml'], (v) => ({ env: { FUZZ_PROFILE: v } }), {
    probe: { file: 'job/job.sbatch', anchor: '\nexport FUZZ_PROFILE=', targets: ['slurm'] },
  }),
  profileRow('jobDefaults.account', 'jobDefaults.account', ['def-lab'], (v) => ({ jobDefaults: { account: v } }), {
    probe: { file: 'job/job.sbatch', anchor: '#SBATCH --account=', targets: ['slurm'] },
  }),
  profileRow('jobDefaults.partition', 'jobDefaults.partition', ['gpu'], (v) => ({ jobDefaults: { partition: v } }), {
    orAt: [['fuzz/job', 'allocation.partition']],
    probe: { file: 'job/job.sbatch', anchor: '#SBATCH --partition=', targets: ['slurm'] },
  }),
  profileRow('jobDefaults.time', 'jobDefaults.time', ['02:00:00'], (v) => ({ jobDefaults: { time: v } }), {
    probe: { file: 'job/job.sbatch', anchor: '#SBATCH --time=', targets: ['slurm'] },
  }),
  profileRow('jobDefaults.mem', 'jobDefaults.mem', ['64G'], (v) => ({ jobDefaults: { mem: v } })),
  profileRow('jobDefaults.qos', 'jobDefaults.qos', ['normal'], (v) => ({ jobDefaults: { qos: v } }), {
    probe: { file: 'job/job.sbatch', anchor: '#SBATCH --qos=', targets: ['slurm'] },
  }),
  profileRow(
    'jobDefaults.constraint',
    'jobDefaults.constraint',
    ['skylake'],
    (v) => ({ jobDefaults: { constraint: v } }),
    { probe: { file: 'job/job.sbatch', anchor: '#SBATCH --constraint=', targets: ['slurm'] } },
  ),
  profileRow(
    'jobDefaults.gpus.type',
    'jobDefaults.gpus',
    ['a100'],
    (v) => ({ jobDefaults: { partition: 'gpu', gpus: { type: v, count: 1 } } }),
    { orAt: [['fuzz/job', 'allocation.gpus.type']] },
  ),
  profileRow('description', 'description', ['DRAC narval'], (v) => ({ description: v }), { kind: 'text' }),
];
