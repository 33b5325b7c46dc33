import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClusterProfile,
  ContainerImage,
  ImageBlock,
  Job,
  RuntimeRef,
  Testing,
  type ContainerImageProps,
} from '../../lib/index.js';

const DIGEST = `sha256:${'0f'.repeat(32)}`;
const cluster = (containerRuntime: 'apptainer' | 'podman' | 'none') =>
  new ClusterProfile('hpc', {
    scheduler: 'slurm',
    ssh: { host: 'hpc' },
    partitions: { gpu: { maxTime: '1-00:00:00', gpus: { a100: 4 }, cpusPerNode: 32, memPerNode: '256G' } },
    scratchVar: 'SLURM_TMPDIR',
    containerRuntime,
  });

let work: string;
let savedCwd: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hpcdk-image-test-'));
  savedCwd = process.cwd();
  // Copied files are found relative to the current folder, the project folder when hpcdk runs.
  process.chdir(work);
  writeFileSync(join(work, 'requirements.txt'), 'numpy==1.26.4\n');
  mkdirSync(join(work, 'src'));
  writeFileSync(join(work, 'src/main.py'), 'print("hello")\n');
});
afterAll(() => {
  process.chdir(savedCwd);
  rmSync(work, { recursive: true, force: true });
});

function imageStack(props: Partial<ContainerImageProps> = {}, runtime: 'apptainer' | 'podman' | 'none' = 'apptainer') {
  const stack = Testing.stack({ targets: [cluster(runtime)] }, 'demo');
  const image = new ContainerImage(stack, 'image', { from: `python:3.11-slim@${DIGEST}`, ...props });
  return { stack, image };
}

describe('ContainerImage validation', () => {
  it('GIVEN a malformed reference, a digest that is not sha256, a missing file and an entrypoint set twice WHEN synthesized THEN every problem names the construct path and field', () => {
    const stack = Testing.stack({}, 'demo');
    new ContainerImage(stack, 'bad-ref', { from: 'Python 3.11' });
    new ContainerImage(stack, 'bad-digest', { from: 'python:3.11@md5:d41d8cd98f00b204e9800998ecf8427e' });
    new ContainerImage(stack, 'untagged', { from: 'python' });
    new ContainerImage(stack, 'missing', {
      from: 'python:3.11',
      steps: [ImageBlock.copy('no/such/file.txt', '/app/file.txt')],
    });
    new ContainerImage(stack, 'twice', { from: 'python:3.11', entrypoint: ['python'] }).setEntrypoint(['bash']);
    new ContainerImage(stack, 'bad-stage', {
      from: 'python:3.11',
      steps: [ImageBlock.copyFromStage('builder', '/wheels', '/wheels')],
    });
    new ContainerImage(stack, 'relabelled', { from: 'python:3.11', labels: { created_by: 'me' } });
    let message = '';
    try {
      Testing.synth(stack);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('[demo/bad-ref] from: must be an image reference such as python:3.11-slim');
    expect(message).toContain('(got "Python 3.11")');
    expect(message).toContain(
      '[demo/bad-digest] from: the digest must be sha256:<64 lowercase hex digits> (got "python:3.11@md5:d41d8cd98f00b204e9800998ecf8427e")',
    );
    expect(message).toContain('[demo/untagged] from: must name a tag');
    expect(message).toContain(
      `[demo/missing] steps[0].source: no such file in the project folder (got "no/such/file.txt")`,
    );
    expect(message).toContain('[demo/twice] entrypoint: is set twice: already ["python"] (got ["bash"])');
    expect(message).toContain(
      '[demo/bad-stage] steps[0].fromStage: is not an earlier stage (stages: none) (got "builder")',
    );
    expect(message).toContain('[demo/relabelled] labels.created_by: is set by hpcdk');
  });

  it('refuses a copy source that leaves the project folder, and a relative destination', () => {
    const { stack } = imageStack({ steps: [{ kind: 'copy', source: '../etc/passwd', destination: 'app' }] });
    expect(() => Testing.synth(stack)).toThrow(
      /\[demo\/image\] steps\[0\]\.source: must be a relative path inside the project/,
    );
    expect(() => Testing.synth(stack)).toThrow(/\[demo\/image\] steps\[0\]\.destination: must be an absolute path/);
  });
});

describe('ContainerImage synth', () => {
  it('GIVEN copied files WHEN synthesized THEN they travel as build context, and their content hashes are inputs of the image', () => {
    const { stack } = imageStack({
      workdir: '/app',
      steps: [
        ImageBlock.copy('requirements.txt', '/app/requirements.txt'),
        ImageBlock.copy('src/main.py', '/app/main.py'),
      ],
    });
    const out = Testing.synth(stack);
    expect(out.file('image/context/requirements.txt')).toBe('numpy==1.26.4\n');
    expect(out.file('image/Dockerfile')).toContain('COPY ["context/src/main.py","/app/main.py"]');
    expect(out.file('image/image.def')).toContain(
      '%files\n    context/requirements.txt /app/requirements.txt\n    context/src/main.py /app/main.py\n',
    );
    const r = out.resource('image', 'container-image');
    expect(r.kind).toBe('container-image');
    expect(Object.keys(r.inputs).sort()).toEqual(['apptainer', 'copiedFiles', 'description', 'podman', 'runtime']);
    expect(r.artifacts).toEqual([
      'image/Dockerfile',
      'image/build.sh',
      'image/context/requirements.txt',
      'image/context/src/main.py',
      'image/image.def',
      'image/lock.sh',
    ]);
    expect(r.spec.build).toEqual({ script: 'image/build.sh', lock: 'bash files/image/lock.sh', describe: true });

    // The same description with a changed file is another image, under another tag.
    writeFileSync(join(work, 'src/main.py'), 'print("changed")\n');
    const again = Testing.synth(
      imageStack({
        workdir: '/app',
        steps: [
          ImageBlock.copy('requirements.txt', '/app/requirements.txt'),
          ImageBlock.copy('src/main.py', '/app/main.py'),
        ],
      }).stack,
    );
    expect(again.resource('image').inputs.copiedFiles).not.toBe(r.inputs.copiedFiles);
    expect(again.resource('image').identity).not.toBe(r.identity);
    expect(again.resource('image', 'container-image').spec.image).not.toBe(r.spec.image);
    expect(String(again.resource('image', 'container-image').spec.image)).toMatch(
      /^localhost\/hpcdk-demo-image:h[0-9a-f]{16}$/,
    );
  });

  it('always labels the image as created by hpcdk with its stack and address, and adds a check only with a smoke test', () => {
    const { stack, image } = imageStack({ labels: { team: 'rl' }, test: ['python -c "import sys"'] });
    image.addSteps(ImageBlock.apt(['git']));
    const out = Testing.synth(stack);
    expect(out.file('image/Dockerfile')).toContain(
      'LABEL "created_by"="hpcdk" "hpcdk.address"="image" "hpcdk.stack"="demo" "team"="rl"',
    );
    expect(out.file('image/Dockerfile')).toMatch(
      /RUN apt-get update[^\n]*git[^\n]*\n# Smoke test[^\n]*\nRUN python -c "import sys"\n$/,
    );
    expect(out.resource('image', 'container-image').spec.build).toMatchObject({ check: 'image/check.sh' });
  });
});

/** A folder of fake programs that record their arguments (\x1f between arguments, \x1e after each call), plus the few real tools the scripts need. */
function fakeBin(
  fakes: string[],
  extraPath = false,
): { bin: string; calls: () => string[][]; env: Record<string, string> } {
  const dir = mkdtempSync(join(work, 'bin-'));
  const log = join(dir, 'calls.log');
  for (const name of fakes) {
    writeFileSync(
      join(dir, name),
      `#!/bin/bash
{ printf '%s\\037' ${name} "$@"; printf '\\036'; } >> ${log}
# Make the file a build would write, and run a command given as '/bin/sh -c STEP' as a runtime would.
for a in "$@"; do case "$a" in *.tmp | *.tar) : > "$a" ;; esac; done
if [ "$#" -ge 3 ] && [ "\${@: -2:1}" = -c ]; then exec /bin/sh -c "\${@: -1}"; fi
exit 0
`,
    );
    chmodSync(join(dir, name), 0o755);
  }
  if (!extraPath) {
    // Only these tools: real podman or docker on this machine must not be found.
    for (const tool of [
      'bash',
      'sh',
      'dirname',
      'basename',
      'mkdir',
      'mv',
      'head',
      'rm',
      'cat',
      'sed',
      'sha256sum',
      'cut',
    ]) {
      symlinkSync(execFileSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(dir, tool));
    }
  }
  return {
    bin: dir,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\x1e')
            .filter((c) => c !== '')
            .map((c) => c.replace(/\x1f$/, '').split('\x1f'))
        : [],
    env: { PATH: extraPath ? `${dir}:${process.env.PATH}` : dir },
  };
}

/** Deploys a synthesized stack's files as apply would (files/<path>) and returns the stack folder. */
function deploy(files: Record<string, string>): string {
  const stackDir = mkdtempSync(join(work, 'stack-'));
  for (const [path, content] of Object.entries(files)) {
    if (path === 'manifest.json') continue;
    mkdirSync(dirname(join(stackDir, 'files', path)), { recursive: true });
    writeFileSync(join(stackDir, 'files', path), content);
  }
  return stackDir;
}

function runScript(stackDir: string, script: string, env: Record<string, string>) {
  return spawnSync('/bin/bash', [join(stackDir, 'files', script)], {
    cwd: stackDir,
    encoding: 'utf8',
    env: { HPCDK_STACK_DIR: stackDir, ...env },
  });
}

describe('the build script picks a path among what exists on the target', () => {
  const built = () => {
    const out = Testing.synth(imageStack({ test: ['true'] }).stack);
    return {
      files: out.files,
      image: String(out.resource('image', 'container-image').spec.image),
      tag: String(out.resource('image', 'container-image').spec.tag),
    };
  };

  it('GIVEN apptainer and podman WHEN built THEN podman builds the Dockerfile and apptainer converts its docker-archive; the lock prints the .sif sha256', () => {
    const { files, image, tag } = built();
    const stackDir = deploy(files);
    const fake = fakeBin(['apptainer', 'podman']);
    const r = runScript(stackDir, 'image/build.sh', fake.env);
    expect(r.status, r.stderr).toBe(0);
    const sif = join(stackDir, 'images/image', `${tag}.sif`);
    expect(fake.calls()).toEqual([
      ['podman', 'build', '-f', 'Dockerfile', '-t', image, '.'],
      ['podman', 'save', '--format', 'docker-archive', '-o', `${sif}.tar`, image],
      ['apptainer', 'build', '--force', `${sif}.tmp`, `docker-archive://${sif}.tar`],
    ]);
    expect(r.stdout).toContain(
      `hpcdk: building ${image}: podman build from Dockerfile, then apptainer build from docker-archive`,
    );
    expect(existsSync(sif)).toBe(true);
    const lock = runScript(stackDir, 'image/lock.sh', fake.env);
    expect(lock.stdout).toBe(
      `built-with: podman build from Dockerfile, then apptainer build from docker-archive\nsif: images/image/${tag}.sif\nsha256: ${'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'}\n`,
    );
    // The check runs the smoke test inside the .sif.
    const check = runScript(stackDir, 'image/check.sh', fake.env);
    expect(check.status, check.stderr).toBe(0);
    expect(fake.calls().at(-1)).toEqual(['apptainer', 'exec', sif, '/bin/sh', '-c', 'set -e\ntrue']);
  });

  it('GIVEN only apptainer WHEN built THEN the .def is built directly', () => {
    const { files, tag } = built();
    const stackDir = deploy(files);
    const fake = fakeBin(['apptainer']);
    const r = runScript(stackDir, 'image/build.sh', fake.env);
    expect(r.status, r.stderr).toBe(0);
    expect(fake.calls()).toEqual([
      ['apptainer', 'build', '--force', join(stackDir, 'images/image', `${tag}.sif.tmp`), 'image.def'],
    ]);
    expect(r.stdout).toContain('apptainer build from image.def');
  });

  it('GIVEN no apptainer on a target whose profile says apptainer WHEN built THEN it fails saying so', () => {
    const stackDir = deploy(built().files);
    const r = runScript(stackDir, 'image/build.sh', fakeBin(['podman']).env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("hpcdk: apptainer is not on this target (the profile's containerRuntime is apptainer)");
  });
});

describe('jobs in an image', () => {
  const step = 'echo "step ran with $SLURM_TMPDIR"';

  it('GIVEN an apptainer profile and a GPU job WHEN its script runs THEN each step runs through apptainer exec --nv with the stack folder, scratch and data bound', () => {
    const { stack, image } = imageStack({ binds: ['/project/data'] });
    new Job(stack, 'train', {
      image,
      allocation: { partition: 'gpu', gpus: { type: 'a100', count: 1 } },
      run: [step, ['echo', 'lr', '0.1']],
    });
    new Job(stack, 'cpu', { image, allocation: { partition: 'gpu' }, run: ['true'] });
    const out = Testing.synth(stack);
    const tag = String(out.resource('image', 'container-image').spec.tag);
    expect(out.resource('train').dependsOn).toEqual(['image']);
    const stackDir = deploy(out.files);
    const scratch = mkdtempSync(join(work, 'scratch-'));
    const fake = fakeBin(['apptainer'], true);
    const r = runScript(stackDir, 'train/job.sbatch', {
      ...fake.env,
      SLURM_SUBMIT_DIR: stackDir,
      SLURM_TMPDIR: scratch,
      SLURM_JOB_ID: '7',
    });
    expect(r.status, r.stderr).toBe(0);
    const sif = join(stackDir, 'images/image', `${tag}.sif`);
    const binds = ['--bind', stackDir, '--bind', '/project/data', '--bind', scratch];
    expect(fake.calls()).toEqual([
      ['apptainer', 'exec', '--nv', ...binds, sif, '/bin/sh', '-c', step],
      ['apptainer', 'exec', '--nv', ...binds, sif, '/bin/sh', '-c', 'echo lr 0.1'],
    ]);
    expect(r.stdout).toBe(`step ran with ${scratch}\nlr 0.1\n`);
    // A job without GPUs gets no --nv.
    expect(out.file('cpu/job.sbatch')).toContain('apptainer exec "${binds[@]}" "$hpcdk_sif" /bin/sh -c "$1"');
  });

  it("GIVEN a podman profile WHEN the job script runs THEN steps run through podman run --rm with the site options, same-path binds, -e for the job's variables and the job's folder", () => {
    const { stack, image } = imageStack(
      {
        podman: { globalArgs: ['--storage-driver', 'vfs'], runArgs: ['--runtime', 'runc'], gpuArgs: [] },
        binds: [RuntimeRef.env('HOME').join('data')],
      },
      'podman',
    );
    new Job(stack, 'train', { image, allocation: { partition: 'gpu' }, env: { LR: '0.1' }, run: ['echo "lr=$LR"'] });
    const out = Testing.synth(stack);
    const stackDir = deploy(out.files);
    const scratch = mkdtempSync(join(work, 'scratch-'));
    const fake = fakeBin(['podman'], true);
    const r = runScript(stackDir, 'train/job.sbatch', {
      ...fake.env,
      SLURM_SUBMIT_DIR: stackDir,
      SLURM_TMPDIR: scratch,
      HOME: '/home/me',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(fake.calls()).toEqual([
      [
        'podman',
        '--storage-driver',
        'vfs',
        'run',
        '--rm',
        '--runtime',
        'runc',
        '-v',
        `${stackDir}:${stackDir}`,
        '-v',
        '/home/me/data:/home/me/data',
        '-v',
        `${scratch}:${scratch}`,
        '-e',
        'HPCDK_STACK_DIR',
        '-e',
        'SLURM_JOB_ID',
        '-e',
        'SLURM_SUBMIT_DIR',
        '-e',
        'SLURM_ARRAY_TASK_ID',
        '-e',
        'SLURM_TMPDIR',
        '-e',
        'LR',
        '-w',
        stackDir,
        '--entrypoint',
        '/bin/sh',
        String(out.resource('image', 'container-image').spec.image),
        '-c',
        'echo "lr=$LR"',
      ],
    ]);
    expect(r.stdout).toBe('lr=0.1\n');
  });

  it('GIVEN a profile that names no runtime WHEN the job script runs THEN it uses the runtime the build recorded', () => {
    const { stack, image } = imageStack({}, 'none');
    new Job(stack, 'train', { image, allocation: { partition: 'gpu' }, run: ['echo in-image'] });
    const out = Testing.synth(stack);
    const stackDir = deploy(out.files);
    const fake = fakeBin(['podman', 'apptainer'], true);
    mkdirSync(join(stackDir, 'images/image'), { recursive: true });
    writeFileSync(
      join(stackDir, 'images/image', `${String(out.resource('image', 'container-image').spec.tag)}.built-with`),
      'podman\npodman build from Dockerfile\n',
    );
    const r = runScript(stackDir, 'train/job.sbatch', {
      ...fake.env,
      SLURM_SUBMIT_DIR: stackDir,
      SLURM_TMPDIR: stackDir,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(fake.calls().map((c) => c.slice(0, 3))).toEqual([['podman', 'run', '--rm']]);
    expect(r.stdout).toBe('in-image\n');
  });

  it('renders job scripts and build scripts that shellcheck accepts', () => {
    for (const runtime of ['apptainer', 'podman', 'none'] as const) {
      const { stack, image } = imageStack({ test: ['true'] }, runtime);
      new Job(stack, 'train', { image, allocation: { partition: 'gpu', gpus: { count: 1 } }, run: ['true'] });
      const stackDir = deploy(Testing.synth(stack).files);
      const scripts = ['train/job.sbatch', 'image/build.sh', 'image/lock.sh', 'image/check.sh'].map((s) =>
        join(stackDir, 'files', s),
      );
      const r = spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', ...scripts], { encoding: 'utf8' });
      expect(r.status, `${runtime}: ${r.stdout}`).toBe(0);
    }
  });
});
