import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CliError, EXIT, type Output } from '../output.js';

const STACK = (name: string) => `// A stack: what to deploy, described as code. Render it with \`npx hpcdk synth\`,
// see what would change with \`npx hpcdk plan\`, and run it with \`npx hpcdk apply\`.
import { App, Job, RuntimeRef, Stack, TextFile } from 'hpcdk';

const app = new App();

// With no targets declared, the stack goes to \`local\`: this machine, no cluster.
const stack = new Stack(app, '${name}', { description: 'a first stack' });

const config = new TextFile(stack, 'config', { fileName: 'config.yaml', content: 'learning_rate: 0.001\\n' });

new Job(stack, 'train', {
  allocation: { time: '00:10:00', cpusPerTask: 2, mem: '4G' },
  // Expanded on the node that runs the job, never spliced into the script.
  env: { SCRATCH: RuntimeRef.env('TMPDIR').join('${name}') },
  run: [
    ['mkdir', '-p', RuntimeRef.env('SCRATCH')],
    ['cp', \`files/\${config.address}/config.yaml\`, RuntimeRef.env('SCRATCH')],
    'echo "training with $(cat "$SCRATCH/config.yaml") as job $SLURM_JOB_ID"',
  ],
});
`;

/** `hpcdk init [DIR]`: a project with one stack that applies to the local target. */
export async function initCommand(dirArg: string | undefined, options: { name?: string }, io: Output): Promise<number> {
  const dir = resolve(dirArg ?? '.');
  const name =
    (options.name ?? basename(dir))
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'main';
  const stackFile = join(dir, 'stacks', `${name}.ts`);
  if (existsSync(stackFile)) throw new CliError(`${stackFile} exists already; nothing was written`);
  mkdirSync(join(dir, 'stacks'), { recursive: true });
  const pkgPath = join(dir, 'package.json');
  if (!existsSync(pkgPath)) {
    writeFileSync(
      pkgPath,
      `${JSON.stringify({ name, private: true, type: 'module', scripts: { synth: 'hpcdk synth', plan: 'hpcdk plan' } }, null, 2)}\n`,
    );
  }
  writeFileSync(stackFile, STACK(name));
  const gitignore = join(dir, '.gitignore');
  const ignore = existsSync(gitignore) ? readFileSync(gitignore, 'utf8') : '';
  // runs/: what hpcdk pull brings back (logs, outputs), too large and too many for git.
  const missing = ['node_modules/', '.hpcdk/', 'runs/'].filter((entry) => !ignore.split('\n').includes(entry));
  if (missing.length > 0)
    writeFileSync(
      gitignore,
      `${ignore}${ignore && !ignore.endsWith('\n') ? '\n' : ''}${missing.map((m) => `${m}\n`).join('')}`,
    );
  io.out(`Created stacks/${name}.ts. Next:
  npm install hpcdk        (if it is not installed yet)
  npx hpcdk synth          renders snapshots/${name}/local/ (commit them)
  npx hpcdk apply --yes    runs the job on this machine
  npx hpcdk status         shows how it went`);
  return EXIT.ok;
}
