import { Command, CommanderError, Option } from 'commander';
import { hpcdkPackage } from '../core/package-info.js';
import { HpcdkError } from '../core/hpcdk-error.js';
import type { GraphFormat } from './commands/graph.js';
import { EXIT, makeOutput, type Output } from './output.js';

function version(): string {
  return hpcdkPackage().version;
}

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  error (invalid stack, failed command, stale snapshots with --check)
  2  plan --detailed-exitcode only: the plan has changes`;

/** Builds the command tree. `run` receives each command's result code. */
export function buildProgram(run: (code: Promise<number>) => void, io: () => Output): Command {
  const program = new Command('hpcdk')
    .description('Research computing environments as code: render, plan and apply stacks.')
    .version(version(), '-V, --version')
    .option('-C, --dir <path>', 'project folder (default: nearest folder upwards holding stacks/)')
    .option('--no-color', 'disable colour (also: NO_COLOR=1)')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run hpcdk --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  const globals = () => program.opts<{ dir?: string; color: boolean }>();

  program
    .command('synth')
    .description('render stacks into snapshots/<stack>/<target>/ with a manifest.json')
    .argument('[stacks...]', 'stacks to render (default: all)')
    .option('--check', 'write nothing; exit 1 with a diff when snapshots/ differ from a fresh synth')
    .addOption(new Option('-t, --target <name>', 'render only this declared target'))
    .option('-q, --quiet', 'print nothing on success')
    .action((stacks: string[], opts: { check?: boolean; target?: string; quiet?: boolean }) => {
      run(import('./commands/synth.js').then((m) => m.synthCommand(stacks, { ...opts, dir: globals().dir }, io())));
    });

  program
    .command('ls')
    .alias('list')
    .description('list the stacks, one per line, with their targets (default first)')
    .option('-l, --long', 'also show the file that declares each stack, and its description')
    .action((opts: { long?: boolean }) => {
      run(import('./commands/ls.js').then((m) => m.lsCommand({ ...opts, dir: globals().dir }, io())));
    });

  program
    .command('graph')
    .description("print stacks' dependency graphs (environments, images, datasets, code, jobs, sweeps) as Graphviz DOT")
    .argument('[stacks...]', 'stacks to graph (default: all, one cluster per stack)')
    .option('-t, --target <name>', "the target to render for (default: each stack's first declared target)")
    .addOption(
      new Option(
        '--format <format>',
        'dot, or svg rendered by Graphviz dot (default: svg when --out ends in .svg)',
      ).choices(['dot', 'svg']),
    )
    .option('--out <file>', 'write to this file instead of stdout')
    .action((stacks: string[], opts: { target?: string; format?: GraphFormat; out?: string }) => {
      run(import('./commands/graph.js').then((m) => m.graphCommand(stacks, { ...opts, dir: globals().dir }, io())));
    });

  program
    .command('init')
    .description('start a project: a stack in stacks/ that applies to the local target, package.json and .gitignore')
    .argument('[dir]', 'the project folder (default: the current folder)')
    .option('--name <name>', 'the stack name (default: the folder name)')
    .action((dir: string | undefined, opts: { name?: string }) => {
      run(import('./commands/init.js').then((m) => m.initCommand(dir, opts, io())));
    });

  const targetOptions = (cmd: Command) =>
    cmd
      .option(
        '-t, --target <name>',
        "the target to act on (default: the stack's first declared target; local is always available)",
      )
      .option(
        '--accept-new-host-key',
        'accept and record an SSH host key seen for the first time (a changed key is always refused)',
      )
      .option('--openssh', 'connect through the system OpenSSH client (ControlMaster, MFA) instead of the built-in one')
      .option(
        '--automation',
        "reach the target as an MFA cluster's automation node: allow-listed commands only, no shell (also the profile's automation: true)",
      );

  const collect = (value: string, previous: string[]) => [...previous, value];

  targetOptions(
    program
      .command('plan')
      .description('show what apply would change on the target: one read of the target, compared with the stack')
      .argument('[stacks...]', 'stacks to plan (default: all)')
      .option('--json', 'print the plan as a versioned JSON document')
      .option('--detailed-exitcode', 'exit 2 when the plan has changes, 0 when it has none, 1 on error')
      .option('--out <file>', 'save the plan, to carry it out exactly with hpcdk apply FILE')
      .option(
        '--replace <address>',
        'plan to cancel and submit this job again, whatever its state (repeatable)',
        collect,
        [],
      )
      .option('--destroy', 'plan the removal of everything the stacks deployed and submitted')
      .option('--allow-dirty', 'with --out: bundle the last commit even where bundled paths have uncommitted changes')
      .option(
        '--ignore-budget',
        'plan (and save) even when the submissions request more compute than the budget allows',
      ),
  ).action((stacks: string[], opts: Record<string, unknown>) => {
    run(import('./commands/plan.js').then((m) => m.planCommand(stacks, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('apply')
      .description('make the target match the stack: upload, submit, record; shows the plan and asks first')
      .argument('[stacks-or-planfile...]', 'stacks to apply (default: all), or one plan file saved by plan --out')
      .option('-y, --yes', 'apply without asking for confirmation')
      .option('--replace <address>', 'cancel and submit this job again, whatever its state (repeatable)', collect, [])
      .option('--allow-dirty', 'bundle the last commit even where bundled paths have uncommitted changes')
      .option('--ignore-budget', 'apply even when the submissions request more compute than the budget allows'),
  ).action((stacks: string[], opts: Record<string, unknown>) => {
    run(import('./commands/apply.js').then((m) => m.applyCommand(stacks, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('destroy')
      .alias('cancel')
      .description('cancel what the stacks submitted and remove the files they deployed; shows the plan and asks first')
      .argument('[stacks...]', 'stacks to destroy (default: all)')
      .option('-y, --yes', 'destroy without asking for confirmation'),
  ).action((stacks: string[], opts: Record<string, unknown>) => {
    run(
      import('./commands/apply.js').then((m) =>
        m.applyCommand(stacks, { ...opts, dir: globals().dir }, io(), 'destroy'),
      ),
    );
  });

  targetOptions(
    program
      .command('status')
      .description(
        "show each resource's state: files deployed, jobs' scheduler state, exit codes and run records (one read per stack); or one run in full",
      )
      .argument(
        '[stacks...]',
        'stacks to show (default: all), or one ADDRESS (STACK/ADDRESS) to show its newest run in full',
      )
      .option('--task <n>', "with a sweep's ADDRESS: the run of array task N")
      .option('--json', 'print as JSON'),
  ).action((stacks: string[], opts: Record<string, unknown>) => {
    run(import('./commands/status.js').then((m) => m.statusCommand(stacks, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('logs')
      .description("print a job's output from the target (its newest submission unless --job is given)")
      .argument('<job>', 'the job: ADDRESS, or STACK/ADDRESS when the project has several stacks')
      .option('--err', 'print standard error instead of standard output')
      .option('--job <id>', 'a particular job id'),
  ).action((job: string, opts: Record<string, unknown>) => {
    run(import('./commands/logs.js').then((m) => m.logsCommand(job, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('images')
      .description(
        'list the images and .sif files hpcdk built on the target, found by label and by state, and whether a stack still uses each (one read per target)',
      )
      .argument(
        '[stacks...]',
        'stacks to list (default: all); a name the project lacks lists that stack folder on --target',
      )
      .option('--json', 'print as JSON'),
  ).action((stacks: string[], opts: Record<string, unknown>) => {
    run(import('./commands/images.js').then((m) => m.imagesCommand(stacks, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('gc')
      .description(
        'remove what no stack and no running job uses: old images, old code bundles and params files, logs beyond --keep-runs; shows what and asks first',
      )
      .argument(
        '[stacks...]',
        'stacks to clean (default: all); with --orphans, also stack folders the project no longer has',
      )
      .option(
        '--keep-runs <n>',
        "keep each job's newest N runs' logs and remove older ones (default: logs are left alone)",
      )
      .option('--orphans', 'remove the named stack folders the project has no stack for (with --target), whole')
      .option('-y, --yes', 'remove without asking for confirmation')
      .option('--json', 'print what gc removes and keeps as JSON; without --yes, remove nothing'),
  ).action((stacks: string[], opts: Record<string, unknown>) => {
    run(import('./commands/gc.js').then((m) => m.gcCommand(stacks, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('pull')
      .description(
        "copy jobs' and sweeps' runs (logs, run.json, frozen packages) and declared outputs into runs/<stack>/<target>/<address>/, incrementally with rsync",
      )
      .argument('[addresses...]', 'jobs and sweeps to pull (default: all of them)')
      .option('--stack <name>', 'only this stack (default: all)')
      .option('--outputs', 'also pull the declared outputs (the default)')
      .option('--no-outputs', 'pull the log folders only'),
  ).action((addresses: string[], opts: Record<string, unknown>) => {
    run(import('./commands/pull.js').then((m) => m.pullCommand(addresses, { ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('force-unlock')
      .description('remove the lock an interrupted apply left on a stack')
      .argument('<stack>', 'the stack'),
  ).action((stack: string, opts: Record<string, unknown>) => {
    run(
      import('./commands/force-unlock.js').then((m) =>
        m.forceUnlockCommand(stack, { ...opts, dir: globals().dir }, io()),
      ),
    );
  });

  targetOptions(
    program
      .command('doctor')
      .description(
        'check a target before anything is applied: connection, scheduler, modules, scratch, container runtime, write access',
      )
      .option('--json', 'print the checks as JSON')
      .option('--probe-job', 'also run a one-minute job that checks the scratch variable inside a job'),
  ).action((opts: Record<string, unknown>) => {
    run(import('./commands/doctor.js').then((m) => m.doctorCommand({ ...opts, dir: globals().dir }, io())));
  });

  targetOptions(
    program
      .command('shell')
      .description(
        'open a shell on a compute node with an environment active or inside an image (with -- COMMAND: run that instead)',
      )
      .argument('<address>', 'the environment or image, by its address as plan shows it')
      .argument('[command...]', 'after --: a command to run there instead of an interactive shell')
      .option('--stack <name>', 'the stack, when several have a construct at that address')
      .option('--like <job>', "take this job's allocation instead of the target's job defaults")
      .option('--time <time>', 'the time limit of the session, e.g. 01:00:00'),
  ).action((address: string, command: string[], opts: Record<string, unknown>) => {
    run(
      import('./commands/shell.js').then((m) =>
        m.shellCommand(address, command, { ...opts, dir: globals().dir }, io()),
      ),
    );
  });

  return program;
}

/** Reports an error on stderr and returns the exit code. */
async function report(error: unknown, io: Output): Promise<number> {
  const c = io.colors;
  if (HpcdkError.isHpcdkError(error)) {
    io.err(`${c.red('Error:')} ${error.message}`);
    if (error.afterword) io.err(error.afterword);
    return error.exitCode;
  }
  // Stack traces are for hpcdk's developers: HPCDK_DEBUG=1 shows them.
  const detail =
    error instanceof Error ? (process.env.HPCDK_DEBUG ? (error.stack ?? error.message) : error.message) : String(error);
  io.err(`${c.red('Error:')} ${detail}`);
  return EXIT.error;
}

/** Runs the CLI with `argv` (as process.argv) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let pending: Promise<number> | undefined;
  let output: Output | undefined;
  const io = () => (output ??= makeOutput(program.opts<{ color: boolean }>().color));
  const program = buildProgram((p) => (pending = p), io);
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    if (pending === undefined) {
      program.outputHelp();
      return EXIT.ok;
    }
    return await pending;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; commander has already printed them.
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return EXIT.ok;
      return EXIT.error;
    }
    return await report(error, io());
  }
}
