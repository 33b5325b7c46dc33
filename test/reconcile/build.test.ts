import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupProjects, hpcdk, makeProject } from '../helpers/project.js';

afterAll(cleanupProjects);

/** A user's own buildable construct: renders a build script, a check and a lock command. */
const source = (
  version: string,
  check = 'test -f built.txt',
) => `import { App, Stack, HpcConstruct, Job, z, type Construct } from 'hpcdk';

const Schema = z.object({ version: z.string() }).strict();
class Tool extends HpcConstruct<typeof Schema> {
  public readonly kind = 'tool';
  constructor(scope: Construct, id: string, props: z.input<typeof Schema>) { super(scope, id, Schema, props); }
  public synthesize() {
    return {
      artifacts: [
        { path: 'build.sh', kind: 'script' as const, executable: true, content: 'set -eu\\necho "building ${version}"\\nmkdir -p "$HPCDK_STACK_DIR/tool"\\necho ${version} > "$HPCDK_STACK_DIR/tool/version"\\ntouch built.txt\\n' },
        { path: 'check.sh', kind: 'script' as const, executable: true, content: '${check}\\n' },
      ],
      resources: [{ kind: this.kind, inputs: { version: this.props.version }, spec: { build: { script: this.address + '/build.sh', check: this.address + '/check.sh', lock: 'cat tool/version' } } }],
    };
  }
}
const app = new App();
const s = new Stack(app, 'demo');
const tool = new Tool(s, 'tool', { version: '${version}' });
new Job(s, 'use', { run: ['cat tool/version'] }).dependsOn(tool as unknown as Job);
`;

describe('buildable resources', () => {
  it('are built by apply after upload, recorded, and rebuilt only when they change', async () => {
    const dir = makeProject({ 'stacks/demo.ts': source('1.0') });
    const plan = await hpcdk(dir, ['plan']);
    expect(plan.stdout).toContain('# tool will be created (new: will be built)');
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stderr).toContain('building tool (log: logs/tool/build.log)');
    const stackDir = join(dir, '.hpcdk/local/demo');
    expect(readFileSync(join(stackDir, 'tool/version'), 'utf8')).toBe('1.0\n');
    expect(readFileSync(join(stackDir, '.hpcdk/locks/tool/lock.txt'), 'utf8')).toBe('1.0\n');
    expect(readFileSync(join(stackDir, 'logs/tool/build.log'), 'utf8')).toContain('building 1.0');
    expect((await hpcdk(dir, ['plan', '--detailed-exitcode'])).exitCode).toBe(0);

    writeFileSync(join(dir, 'stacks/demo.ts'), source('2.0'));
    const again = await hpcdk(dir, ['plan', '--json']);
    const resources = JSON.parse(again.stdout).plans[0].resources as Array<{
      address: string;
      action: string;
      reason: string;
    }>;
    expect(resources.find((r) => r.address === 'tool')).toMatchObject({
      action: 'update',
      reason: 'changed: will be rebuilt',
    });
    // The job depends on the tool, so a new tool means the job runs again.
    expect(resources.find((r) => r.address === 'use')?.action).toBe('submit');
  });

  it('stops at a failing check, submits nothing after it, and reports the log', async () => {
    const dir = makeProject({ 'stacks/demo.ts': source('1.0', 'echo "smoke test failed" >&2; exit 1') });
    const apply = await hpcdk(dir, ['apply', '--yes']);
    expect(apply.exitCode).toBe(1);
    expect(apply.stderr).toContain('the check of tool failed on local');
    expect(apply.stderr).toContain('smoke test failed');
    expect(existsSync(join(dir, '.hpcdk/local/demo/.hpcdk/local-jobs'))).toBe(false);
    // Nothing was recorded as built, so the next plan builds again.
    expect((await hpcdk(dir, ['plan'])).stdout).toContain('# tool will be created (new: will be built)');
  });
});
