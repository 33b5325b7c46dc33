import { posix } from 'node:path';
import { isRuntimeRef, type ShellValue } from '../../shell/index.js';
import { HpcdkError } from '../../core/hpcdk-error.js';

/**
 * What an automation node's forced-command wrapper lets through (DRAC's
 * robot nodes): the command line must start with one of these, and it is
 * then run word-split, unquoted. A trailing `*` allows any continuation
 * (`python3`, `sbatch`); the others must be the whole first word.
 */
export const ALLOWED_COMMANDS: readonly string[] = [
  'ls',
  'cat',
  'echo',
  'mv',
  'cp',
  'rm',
  'mkdir',
  'python*',
  'git*',
  'tar',
  'gzip',
  'zip',
  'rsync',
  'scp',
  'sftp-server',
  'squeue*',
  'scancel*',
  'sbatch*',
  'scontrol*',
];

/** Something the automation mode cannot do, refused before anything is sent or changed. */
export class AutomationRefusedError extends HpcdkError {
  constructor(message: string) {
    super(message);
    this.name = 'AutomationRefusedError';
  }
}

/** Whether the wrapper would let a command whose first word is `first` through. */
export function isAllowedCommand(first: string): boolean {
  const name = first === 'sftp-server' || first.endsWith('/sftp-server') ? 'sftp-server' : first;
  return ALLOWED_COMMANDS.some((a) => (a.endsWith('*') ? name.startsWith(a.slice(0, -1)) : name === a));
}

/** Characters a wrapper that re-splits the command line and expands globs would change. */
const WRAPPER_UNSAFE = /[\s'"\\*?[\]]/;
/** For argument lists the helper runs itself (no shell): white space only. */
export const WHITE_SPACE = /\s/;

/**
 * Checks that `words` reach the program as exactly these words: no empty
 * word, none with white space, and (by default, for what passes through the
 * wrapper) no glob or quote character.
 */
export function checkWords(words: readonly string[], what: string, unsafe: RegExp = WRAPPER_UNSAFE): void {
  for (const w of words) {
    if (w === '' || unsafe.test(w)) {
      const why =
        w === ''
          ? 'is empty'
          : unsafe === WHITE_SPACE
            ? 'contains white space'
            : 'contains white space, a quote or a glob character';
      throw new AutomationRefusedError(
        `${what}: the argument ${JSON.stringify(w)} ${why}, which an automation node cannot pass as one word`,
      );
    }
  }
}

/** Checks a whole command for an automation node: an allow-listed program, and words that survive word splitting. */
export function checkCommand(argv: readonly string[]): string {
  const [first = ''] = argv;
  if (!isAllowedCommand(first))
    throw new AutomationRefusedError(
      `${first || '(empty command)'} is not a command an automation node allows (allowed: ${ALLOWED_COMMANDS.join(', ')})`,
    );
  checkWords(argv, first);
  return argv.join(' ');
}

/**
 * A stack folder as a path the automation node understands without a shell:
 * absolute, or relative to the home directory (where SSH commands and sftp
 * start). Another variable cannot be expanded there.
 */
export function remoteStackDir(stackDir: ShellValue): string {
  if (isRuntimeRef(stackDir)) {
    if (stackDir.variable !== 'HOME') {
      throw new AutomationRefusedError(
        `the base path ${stackDir.toString()} names $${stackDir.variable}, which an automation node cannot expand (no shell runs there); use an absolute path or one under ~`,
      );
    }
    return stackDir.segments.join('/');
  }
  return posix.normalize(stackDir);
}
