const HPCDK_ERROR = Symbol.for('hpcdk.HpcdkError');

/** How an hpcdk error is reported. */
export interface HpcdkErrorOptions {
  /** The process's exit code when this error ends a command. @default 1 */
  readonly exitCode?: number;
  /** A line printed after the message, such as what was left untouched. @default none */
  readonly afterword?: string;
}

/**
 * The base of every error hpcdk raises on purpose: bad input, a refused
 * script, a held lock. The CLI prints its message (no stack trace) and exits
 * with its code; anything else is a fault in hpcdk. The check survives two
 * copies of the library in one process (a stack file's and the CLI's).
 */
export class HpcdkError extends Error {
  /** True for an HpcdkError from any copy of the library. */
  static isHpcdkError(x: unknown): x is HpcdkError {
    return typeof x === 'object' && x !== null && HPCDK_ERROR in x;
  }

  /** The process's exit code when this error ends a command. */
  readonly exitCode: number;
  /** A line printed after the message, if any. */
  readonly afterword: string | undefined;

  constructor(message: string, options: HpcdkErrorOptions = {}) {
    super(message);
    this.name = 'HpcdkError';
    this.exitCode = options.exitCode ?? 1;
    this.afterword = options.afterword;
  }
}
Object.defineProperty(HpcdkError.prototype, HPCDK_ERROR, { value: true });

/** The afterword of errors found before anything was written or sent. */
export const NOTHING_WRITTEN = 'Nothing was written.';
