import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

const PODMAN = `{ globalArgs: ['--storage-driver', 'vfs'], buildArgs: ['--isolation', 'chroot'], runArgs: ['--runtime', 'runc'], gpuArgs: [] }`;

/** A stack with one FROM scratch image on a local target whose profile names `runtime`. */
function project(runtime: string): string {
  return makeProject({
    'stacks/demo.ts': `import { App, Stack, ClusterProfile, ContainerImage } from 'hpcdk';
const here = ClusterProfile.local({ containerRuntime: '${runtime}' }).extend('here', {});
const app = new App();
const s = new Stack(app, 'demo', { targets: [here] });
new ContainerImage(s, 'image', { from: 'scratch', podman: ${PODMAN} });
`,
  });
}

describe('how an image will be built', () => {
  it('is told by plan, from what the target has, and by apply once it is done', async (ctx) => {
    if ((await execa('podman', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode !== 0) {
      if (process.env.CI) throw new Error('CI requires podman');
      ctx.skip('podman is not installed');
    }
    const dir = project('podman');
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('# image will be created (new: will be built with podman build from Dockerfile)');
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stderr).toMatch(/building localhost\/hpcdk-demo-image:h[0-9a-f]{16}: podman build from Dockerfile/);
    const built = (
      await execa('podman', ['--storage-driver', 'vfs', 'images', '-q', '--filter', 'label=hpcdk.stack=demo'])
    ).stdout
      .split('\n')
      .filter(Boolean);
    expect(built.length).toBeGreaterThan(0);
    await execa('podman', ['--storage-driver', 'vfs', 'rmi', '-f', ...built], { reject: false });
  });

  it('refuses at plan, naming the construct, when the target has nothing that can build it', async () => {
    // Apptainer is on no machine here: the profile asks for it, so plan says it cannot be built.
    const dir = project('apptainer');
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.exitCode).toBe(1);
    expect(plan.stderr).toContain(
      "[demo/image] cannot be built on here: apptainer is not on this target (the profile's containerRuntime is apptainer)",
    );
  });
});
