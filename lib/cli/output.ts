import { HpcdkError } from '../core/hpcdk-error.js';
import { makeColors, type Colors } from '../ui/colors.js';

export type { Colors } from '../ui/colors.js';

/** Where a command writes: results to stdout, errors and progress to stderr. */
export interface Output {
  readonly colors: Colors;
  out(text: string): void;
  err(text: string): void;
}

/** Colour only on a terminal, and never with NO_COLOR or --no-color. */
export function makeOutput(colorFlag: boolean): Output {
  const enabled =
    colorFlag &&
    !('NO_COLOR' in process.env && process.env.NO_COLOR !== '') &&
    Boolean(process.stdout.isTTY) &&
    process.env.TERM !== 'dumb';
  return {
    colors: makeColors(enabled),
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

/** An error the CLI reports as one message and an exit code, without a stack trace. */
export class CliError extends HpcdkError {
  constructor(message: string, exitCode = 1) {
    super(message, { exitCode });
    this.name = 'CliError';
  }
}

/** Exit codes, as documented in the README. */
export const EXIT = {
  ok: 0,
  error: 1,
  /** plan --detailed-exitcode: the plan has changes. */
  changes: 2,
} as const;
