import { execFileSync } from 'node:child_process';
import { DockerfileParser, type Copy, type Env, type From, type Label, type JSONInstruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { renderApptainerDef } from '../../lib/render/apptainer-def.js';
import { dockerfileString, renderDockerfile } from '../../lib/render/dockerfile.js';
import { parseImageReference, type ImageSpec } from '../../lib/render/image-spec.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const ctx = { header: ['demo/image on target local', 'Rendered by hpcdk; edit the stack, not this file.'] };

/** A two-stage image: a builder stage producing a wheel, and the final image that installs it. */
const spec: ImageSpec = {
  stages: [
    {
      name: 'build',
      from: { repository: 'python', tag: '3.11', digest: DIGEST },
      env: { PIP_NO_CACHE_DIR: '1' },
      workdir: '/src',
      steps: [
        { kind: 'copy', source: 'context/pyproject.toml', destination: '/src/pyproject.toml' },
        { kind: 'run', commands: [['python3', '-m', 'pip', 'wheel', '-w', '/wheels', '.']] },
      ],
    },
    {
      name: 'final',
      from: { repository: 'registry.example.invalid:5000/lab/base', tag: '1.0' },
      env: { WANDB_MODE: 'offline', GREETING: 'it\'s $5 "each"' },
      workdir: '/app',
      steps: [
        { kind: 'apt', packages: ['git', 'ca-certificates'] },
        { kind: 'copy', fromStage: 'build', source: '/wheels', destination: '/wheels' },
        { kind: 'pip', requirements: ['numpy==1.26.4', 'torch>=2.1'], python: 'python3', args: [] },
      ],
    },
  ],
  labels: { created_by: 'hpcdk', 'hpcdk.stack': 'demo', 'hpcdk.address': 'image' },
  entrypoint: ['python'],
  cmd: ['main.py', '--epochs', '1'],
  test: ['python -c "import numpy"', ['test', '-d', '/wheels']],
};

describe('renderDockerfile', () => {
  const text = renderDockerfile(spec, ctx);
  const dockerfile = DockerfileParser.parse(text);
  const instructions = dockerfile.getInstructions();

  it('GIVEN a two-stage description WHEN rendered THEN a real parser finds FROM … AS per stage, pinned by tag and digest', () => {
    const froms = dockerfile.getFROMs() as From[];
    expect(froms.map((f) => [f.getImageName(), f.getImageTag(), f.getImageDigest(), f.getBuildStage()])).toEqual([
      ['python', '3.11', DIGEST, 'build'],
      ['lab/base', '1.0', null, 'final'],
    ]);
    expect(froms[1]!.getRegistry()).toBe('registry.example.invalid:5000');
  });

  it("THEN the instructions come in Dockerfile order: the final stage's LABEL first, ENV and WORKDIR before the steps, the smoke test as the last RUN, ENTRYPOINT and CMD at the end", () => {
    expect(instructions.map((i) => i.getKeyword())).toEqual([
      'FROM',
      'ENV',
      'WORKDIR',
      'COPY',
      'RUN',
      'FROM',
      'LABEL',
      'ENV',
      'WORKDIR',
      'RUN',
      'COPY',
      'RUN',
      'RUN',
      'RUN',
      'ENTRYPOINT',
      'CMD',
    ]);
    const runs = instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent());
    expect(runs.slice(-2)).toEqual(['python -c "import numpy"', 'test -d /wheels']);
    expect(runs[1]).toBe(
      'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*',
    );
    expect(runs[2]).toBe("python3 -m pip install --no-cache-dir numpy==1.26.4 'torch>=2.1'");
  });

  it('THEN COPY uses the exec form, with --from for a copy between stages', () => {
    const copies = instructions.filter((i) => i.getKeyword() === 'COPY') as Copy[];
    expect(copies.map((c) => [c.getFromFlag()?.getValue(), c.getJSONStrings().map((s) => s.getJSONValue())])).toEqual([
      [undefined, ['context/pyproject.toml', '/src/pyproject.toml']],
      ['build', ['/wheels', '/wheels']],
    ]);
  });

  it('THEN ENV, LABEL (with created_by), ENTRYPOINT and CMD carry exactly the declared values', () => {
    const env = instructions.filter((i) => i.getKeyword() === 'ENV') as Env[];
    expect(env[1]!.getProperties().map((p) => p.getName())).toEqual(['GREETING', 'WANDB_MODE']);
    expect(env[1]!.getProperties()[1]!.getValue()).toBe('offline');
    const label = instructions.find((i) => i.getKeyword() === 'LABEL') as Label;
    expect(Object.fromEntries(label.getProperties().map((p) => [p.getName(), p.getValue()]))).toEqual({
      created_by: 'hpcdk',
      'hpcdk.stack': 'demo',
      'hpcdk.address': 'image',
    });
    const json = (k: string) =>
      (instructions.find((i) => i.getKeyword() === k) as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
    expect(json('ENTRYPOINT')).toEqual(['python']);
    expect(json('CMD')).toEqual(['main.py', '--epochs', '1']);
  });

  it('escapes ", \\ and $ in Dockerfile strings, so the builder never expands a declared value', () => {
    expect(dockerfileString('it\'s $5 "each" \\o/')).toBe('"it\'s \\$5 \\"each\\" \\\\o/"');
  });

  it('renders FROM scratch for the empty base, one stage without AS', () => {
    const single = renderDockerfile(
      { stages: [{ from: { repository: 'scratch' }, env: {}, steps: [] }], labels: { created_by: 'hpcdk' }, test: [] },
      ctx,
    );
    const parsed = DockerfileParser.parse(single);
    expect(parsed.getInstructions().map((i) => `${i.getKeyword()} ${i.getArgumentsContent()}`)).toEqual([
      'FROM scratch',
      'LABEL "created_by"="hpcdk"',
    ]);
  });
});

/** The sections of one stage of a .def: header lines and each `%section`'s lines, unindented. */
function defStages(text: string): Array<{ header: Record<string, string>; sections: Record<string, string[]> }> {
  const stages: Array<{ header: Record<string, string>; sections: Record<string, string[]> }> = [];
  let section: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const header = /^(Bootstrap|From|Stage):\s*(.*)$/.exec(line);
    if (header) {
      if (header[1] === 'Bootstrap') stages.push({ header: {}, sections: {} });
      stages.at(-1)!.header[header[1]!] = header[2]!;
      section = undefined;
    } else if (line.startsWith('%')) {
      section = line;
      stages.at(-1)!.sections[section] = [];
    } else {
      expect(line.startsWith('    '), `section lines are indented: ${line}`).toBe(true);
      stages.at(-1)!.sections[section!]!.push(line.slice(4));
    }
  }
  return stages;
}

describe('renderApptainerDef', () => {
  const stages = defStages(renderApptainerDef(spec, ctx));

  it('GIVEN a two-stage description WHEN rendered THEN each stage has Bootstrap/From/Stage headers', () => {
    expect(stages.map((s) => s.header)).toEqual([
      { Bootstrap: 'docker', From: `python:3.11@${DIGEST}`, Stage: 'build' },
      { Bootstrap: 'docker', From: 'registry.example.invalid:5000/lab/base:1.0', Stage: 'final' },
    ]);
  });

  it('THEN a variable is in %environment (run time) and also exported in %post (build time)', () => {
    const final = stages[1]!.sections;
    const exports = ["export GREETING='it'\\''s $5 \"each\"'", 'export WANDB_MODE=offline'];
    expect(final['%environment']).toEqual(exports);
    expect(final['%post']!.slice(0, 2)).toEqual(exports);
    expect(final['%post']!.slice(2, 4)).toEqual(['mkdir -p -- /app', 'cd -- /app']);
  });

  it('THEN copies go to %files, and copies between stages to %files from <stage>', () => {
    expect(stages[0]!.sections['%files']).toEqual(['context/pyproject.toml /src/pyproject.toml']);
    expect(stages[1]!.sections['%files from build']).toEqual(['/wheels /wheels']);
    expect(stages[1]!.sections['%files']).toBeUndefined();
  });

  it('THEN only the final stage has %labels, %test and %runscript', () => {
    expect(Object.keys(stages[0]!.sections)).toEqual(['%files', '%environment', '%post']);
    expect(Object.keys(stages[1]!.sections)).toEqual([
      '%files from build',
      '%environment',
      '%post',
      '%labels',
      '%test',
      '%runscript',
    ]);
    expect(stages[1]!.sections['%labels']).toEqual(['created_by hpcdk', 'hpcdk.address image', 'hpcdk.stack demo']);
    expect(stages[1]!.sections['%test']).toEqual([
      'set -e',
      'cd -- /app',
      'python -c "import numpy"',
      'test -d /wheels',
    ]);
  });

  it("THEN %runscript has Docker's ENTRYPOINT/CMD semantics: arguments replace CMD and follow ENTRYPOINT", () => {
    const runscript = renderApptainerDef(
      { ...spec, entrypoint: ['echo', 'entry'], stages: [{ ...spec.stages[1]!, workdir: '/tmp' }] },
      ctx,
    );
    const body = defStages(runscript)[0]!.sections['%runscript']!.join('\n');
    const run = (...args: string[]) => execFileSync('sh', ['-c', body, 'runscript', ...args], { encoding: 'utf8' });
    expect(run()).toBe('entry main.py --epochs 1\n');
    expect(run('other.py', 'x y')).toBe('entry other.py x y\n');
  });
});

describe('parseImageReference', () => {
  it.each([
    ['python:3.11-slim', { repository: 'python', tag: '3.11-slim' }],
    [`python:3.11@${DIGEST}`, { repository: 'python', tag: '3.11', digest: DIGEST }],
    ['localhost:5000/lab/img:v1', { repository: 'localhost:5000/lab/img', tag: 'v1' }],
    ['scratch', { repository: 'scratch' }],
  ])('accepts %s', (text, reference) => {
    expect(parseImageReference(text)).toEqual({ reference });
  });

  it.each([
    ['python', /must name a tag/],
    ['Python:3.11', /must be an image reference/],
    ['python:3.11@md5:abc', /digest must be sha256/],
    [`python:3.11@sha256:${'a'.repeat(63)}`, /digest must be sha256/],
    ['python:.bad', /the tag must be/],
    ['python 3.11', /must be an image reference/],
  ])('refuses %s', (text, problem) => {
    const parsed = parseImageReference(text);
    expect('problem' in parsed && parsed.problem).toMatch(problem);
  });
});
