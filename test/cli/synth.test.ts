import { existsSync, readFileSync, symlinkSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { cleanupProjects, copyRepo, hpcdk, makeProject, readTree } from '../helpers/project.js';
import { stackSource } from '../helpers/source.js';

afterAll(cleanupProjects);

const twoFiles = stackSource(`
const s = new Stack(app, 'demo', { description: 'two files' });
new TextFile(s, 'a', { content: 'alpha\\n' });
new TextFile(s, 'b', { content: 'beta\\n', executable: true });
`);

describe('hpcdk synth', () => {
  it('renders stacks/*.ts into snapshots/<stack>/<target>/ with a manifest', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('demo/local: 2 artifacts, 2 resources');
    expect(readFileSync(join(dir, 'snapshots/demo/local/a/a'), 'utf8')).toBe('alpha\n');
    const manifest = JSON.parse(readFileSync(join(dir, 'snapshots/demo/local/manifest.json'), 'utf8'));
    expect(manifest.artifacts.map((a: { path: string }) => a.path)).toEqual(['a/a', 'b/b']);
    expect(manifest.resources.map((r: { address: string; kind: string }) => `${r.kind}:${r.address}`)).toEqual([
      'file:a',
      'file:b',
    ]);
  });

  it('removes an artifact from the snapshots when it is removed from the stack', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    writeFileSync(join(dir, 'stacks/demo.ts'), twoFiles.replace(/new TextFile\(s, 'b'.*\n/, ''));
    expect((await hpcdk(dir, ['synth'])).exitCode).toBe(0);
    expect(existsSync(join(dir, 'snapshots/demo/local/b'))).toBe(false);
    expect(existsSync(join(dir, 'snapshots/demo/local/a/a'))).toBe(true);
  });

  it('removes the folder of a stack that no longer exists, on a full synth', async () => {
    const dir = makeProject({
      'stacks/demo.ts': twoFiles,
      'stacks/other.ts': stackSource(`new TextFile(new Stack(app, 'other'), 'x', { content: 'x' });`),
    });
    await hpcdk(dir, ['synth']);
    rmSync(join(dir, 'stacks/other.ts'));
    const r = await hpcdk(dir, ['synth']);
    expect(r.stdout).toContain('other: removed');
    expect(existsSync(join(dir, 'snapshots/other'))).toBe(false);
  });

  it('lists every validation error with construct paths, exits 1 and writes nothing', async () => {
    const dir = makeProject({
      'stacks/demo.ts': twoFiles,
      'stacks/bad.ts': stackSource(`
const s = new Stack(app, 'bad');
new TextFile(s, 'one', { content: 1 as unknown as string });
new TextFile(s, 'two', { content: 'x', fileName: 'a/b' });
`),
    });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('2 validation errors');
    expect(r.stderr).toContain('[bad/one] content: Invalid input: expected string, received number (got 1)');
    expect(r.stderr).toMatch(/\[bad\/two\] fileName: must be a plain file name .* \(got "a\/b"\)/);
    expect(r.stderr).toContain('Nothing was written.');
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);
  });

  it('leaves previous snapshots untouched when a later synth fails', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    const before = readTree(join(dir, 'snapshots'));
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      twoFiles.replace("'beta\\n'", '42 as unknown as string').replace("'alpha\\n'", "'changed'"),
    );
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(readTree(join(dir, 'snapshots'))).toEqual(before);
  });

  it('points at the file and line of a stack file that throws', async () => {
    const dir = makeProject({
      'stacks/demo.ts': twoFiles,
      'stacks/throws.ts': `const x: number = 1;\n\nif (x === 1) {\n  throw new Error('no data folder');\n}\n`,
    });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('stacks/throws.ts:4:9: Error: no data folder');
    expect(existsSync(join(dir, 'snapshots'))).toBe(false);
  });

  it('points at the file and line of a stack file that does not compile', async () => {
    const dir = makeProject({ 'stacks/broken.ts': `const a: number = 1;\nconst b = {;\n` });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/stacks\/broken\.ts:2:12: does not compile: Expected identifier but found ";"/);
  });

  it('refuses two stacks with the same name, naming both files', async () => {
    const dir = makeProject({ 'stacks/a.ts': twoFiles, 'stacks/b.ts': twoFiles });
    const r = await hpcdk(dir, ['synth']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('stacks/b.ts: stack demo is also declared in stacks/a.ts');
  });

  it('refuses an unknown stack name, listing the known ones', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    const r = await hpcdk(dir, ['synth', 'nope']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no stack named nope (stacks: demo)');
  });

  it('renders one folder per declared target, and --target renders only that one', async () => {
    const dir = makeProject({
      'stacks/tiers.ts': stackSource(`
const small = new ClusterProfile('small', { scheduler: 'slurm', ssh: { host: 'small-tier' } });
const large = new ClusterProfile('large', { scheduler: 'slurm', ssh: { host: 'large-tier' } });
new TextFile(new Stack(app, 'tiers', { targets: [small, large] }), 'f', { content: 'x' });
`),
    });
    expect((await hpcdk(dir, ['synth', '--target', 'large'])).exitCode).toBe(0);
    expect(existsSync(join(dir, 'snapshots/tiers/large/manifest.json'))).toBe(true);
    expect(existsSync(join(dir, 'snapshots/tiers/small'))).toBe(false);
    await hpcdk(dir, ['synth']);
    expect(existsSync(join(dir, 'snapshots/tiers/small/manifest.json'))).toBe(true);
    const undeclared = await hpcdk(dir, ['synth', '--target', 'nowhere']);
    expect(undeclared.exitCode).toBe(1);
    expect(undeclared.stderr).toContain('stack tiers does not declare target nowhere (declared: small, large)');
  });
});

describe('hpcdk synth --check', () => {
  it('exits 0 when snapshots match a fresh synth', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    const r = await hpcdk(dir, ['synth', '--check']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('snapshots are up to date');
  });

  it('exits 1 with a unified diff and the added and removed files when they differ, writing nothing', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    writeFileSync(join(dir, 'snapshots/demo/local/a/a'), 'edited by hand\n');
    mkdirSync(join(dir, 'snapshots/demo/local/stale'));
    writeFileSync(join(dir, 'snapshots/demo/local/stale/old.txt'), 'old');
    rmSync(join(dir, 'snapshots/demo/local/b/b'));
    const before = readTree(join(dir, 'snapshots'));

    const r = await hpcdk(dir, ['synth', '--check']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('--- a/demo/local/a/a');
    expect(r.stdout).toContain('+++ b/demo/local/a/a');
    expect(r.stdout).toContain('-edited by hand');
    expect(r.stdout).toContain('+alpha');
    expect(r.stdout).toContain('+ demo/local/b/b');
    expect(r.stdout).toContain('- demo/local/stale/old.txt');
    expect(r.stderr).toContain('snapshots are stale: 1 changed, 1 added, 1 removed');
    expect(readTree(join(dir, 'snapshots'))).toEqual(before);
  });

  it('reports a lost executable bit', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    await execa('chmod', ['644', join(dir, 'snapshots/demo/local/b/b')]);
    const r = await hpcdk(dir, ['synth', '--check']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('mode of demo/local/b/b: 644 committed, 755 rendered');
  });

  it('reports snapshots of a stack that no longer exists', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    writeFileSync(
      join(dir, 'stacks/demo.ts'),
      stackSource(`new TextFile(new Stack(app, 'renamed'), 'a', { content: 'alpha\\n' });`),
    );
    const r = await hpcdk(dir, ['synth', '--check']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('- demo/local/manifest.json');
    expect(r.stdout).toContain('+ renamed/local/manifest.json');
  });
});

describe('determinism', () => {
  it('gives byte-identical snapshots in two copies of the repository at different paths', async () => {
    const first = copyRepo('hpcdk-first-');
    const second = copyRepo('hpcdk-second-other-name-');
    rmSync(join(first, 'snapshots'), { recursive: true, force: true });
    rmSync(join(second, 'snapshots'), { recursive: true, force: true });
    expect((await hpcdk(first, ['synth'])).exitCode).toBe(0);
    expect((await hpcdk(second, ['synth'], { TZ: 'Pacific/Chatham', LANG: 'de_DE.UTF-8' })).exitCode).toBe(0);
    const a = readTree(join(first, 'snapshots'));
    const b = readTree(join(second, 'snapshots'));
    expect(a.size).toBeGreaterThan(1);
    expect(b).toEqual(a);
    // and a second run in the same place changes nothing
    expect((await hpcdk(first, ['synth'])).exitCode).toBe(0);
    expect(readTree(join(first, 'snapshots'))).toEqual(a);
    for (const [path, content] of a) {
      expect(content.includes(first), `${path} holds a local path`).toBe(false);
      expect(content.includes('\r'), `${path} holds CR`).toBe(false);
    }
  });
});

describe('the CLI', () => {
  it('lists stacks with their targets', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    const r = await hpcdk(dir, ['ls']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('demo\tlocal\n');
    expect((await hpcdk(dir, ['ls', '--long'])).stdout).toBe('demo\tlocal\tstacks/demo.ts\ttwo files\n');
  });

  it('prints help on every command, and the version', async () => {
    const dir = makeProject({});
    for (const cmd of [[], ['synth'], ['ls']]) {
      const r = await hpcdk(dir, [...cmd, '--help']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('Usage: hpcdk');
    }
    const v = await hpcdk(dir, ['--version']);
    expect(v.stdout.trimEnd()).toBe(JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')).version);
  });

  it('sends errors to stderr with exit 1 for an unknown command or a folder without stacks', async () => {
    const dir = makeProject({});
    const r = await hpcdk(dir, ['bogus']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("unknown command 'bogus'");
    expect(r.stdout).toBe('');
    const none = await hpcdk(dir, ['ls']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain('no stacks/ folder');
  });

  it('never colours output when NO_COLOR is set or --no-color is given', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    await hpcdk(dir, ['synth']);
    writeFileSync(join(dir, 'snapshots/demo/local/a/a'), 'x');
    for (const args of [
      ['synth', '--check'],
      ['--no-color', 'synth', '--check'],
    ]) {
      const r = await hpcdk(dir, args, args[0] === '--no-color' ? { NO_COLOR: '', FORCE_COLOR: '1' } : {});
      expect(r.stdout + r.stderr).not.toMatch(/\u001b\[/);
    }
  });

  it('works as `npx hpcdk` in a project that depends on the package', async () => {
    const dir = makeProject({ 'stacks/demo.ts': twoFiles });
    mkdirSync(join(dir, 'node_modules/.bin'));
    symlinkSync('../hpcdk/bin/hpcdk.js', join(dir, 'node_modules/.bin/hpcdk'));
    const r = await execa('npx', ['--no-install', 'hpcdk', 'ls'], { cwd: dir, reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('demo\tlocal');
  });
});

describe('hpcdk init', () => {
  it('creates a project whose stack synthesizes and applies to the local target', async () => {
    const dir = makeProject({});
    rmSync(join(dir, 'package.json'));
    const init = await hpcdk(dir, ['init', '--name', 'first']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(existsSync(join(dir, 'stacks/first.ts'))).toBe(true);
    expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toContain('.hpcdk/');
    expect((await hpcdk(dir, ['synth'])).exitCode).toBe(0);
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stdout).toContain('1 job submitted');
    const again = await hpcdk(dir, ['init', '--name', 'first']);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('exists already; nothing was written');
  });
});

describe('shared profiles', () => {
  it('can be named with --target although no stack declares them', async () => {
    const dir = makeProject({
      'stacks/profiles.ts': `import { ClusterProfile } from 'hpcdk';\nexport const elsewhere = ClusterProfile.local({ basePath: '.hpcdk/elsewhere' }).extend('elsewhere', {});\n`,
      'stacks/demo.ts': twoFiles,
    });
    const r = await hpcdk(dir, ['apply', '--yes', '--target', 'elsewhere']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Apply complete! demo on elsewhere');
    expect(existsSync(join(dir, '.hpcdk/elsewhere/demo/files/a/a'))).toBe(true);
    const unknown = await hpcdk(dir, ['plan', '--target', 'nowhere']);
    expect(unknown.stderr).toContain('no target named nowhere (targets: elsewhere, local)');
  });
});
