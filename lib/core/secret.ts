import { RuntimeRef, type ShellValue } from '../shell/index.js';
import { STACK_DIR } from './runtime.js';
import { SECRETS_DIR } from '../state/layout.js';

const SECRET = Symbol.for('hpcdk.Secret');
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A value a job needs but no file may hold: not the snapshots, not a plan,
 * not the state, not the logs. Only its name enters them (and identities).
 * - `Secret.fromEnv('WANDB_API_KEY')`: read from the environment of whoever
 *   runs apply, which uploads it to a 0600 file in the stack's state folder.
 * - `Secret.fromTargetFile('~/.secrets/aws')`: a file already on the target.
 * Jobs read the value from the file when they start.
 */
export class Secret {
  private constructor(
    public readonly source: 'env' | 'target-file',
    /** The environment variable apply reads, or the file on the target. */
    public readonly name: string,
  ) {
    Object.defineProperty(this, SECRET, { value: true });
  }

  public static fromEnv(variable: string): Secret {
    if (!ENV_NAME.test(variable))
      throw new TypeError(`Secret.fromEnv: not an environment variable name: ${JSON.stringify(variable)}`);
    return new Secret('env', variable);
  }

  public static fromTargetFile(path: string): Secret {
    if (path.trim() === '' || /[\n\0]/.test(path))
      throw new TypeError(`Secret.fromTargetFile: needs a path of one line (got ${JSON.stringify(path)})`);
    return new Secret('target-file', path);
  }

  public static isSecret(x: unknown): x is Secret {
    return typeof x === 'object' && x !== null && SECRET in x;
  }

  /** Where the job reads it, on the target. */
  public file(): ShellValue {
    if (this.source === 'env') return STACK_DIR.join(SECRETS_DIR, this.name);
    if (this.name === '~') return RuntimeRef.env('HOME');
    if (this.name.startsWith('~/')) return RuntimeRef.env('HOME').join(this.name.slice(2));
    return RuntimeRef.parse(this.name) ?? this.name;
  }

  /** What manifests, plans and identities record: the name and source, never a value. */
  public toJSON(): { secret: string; from: string } {
    return { secret: this.name, from: this.source };
  }

  public toString(): string {
    return `Secret(${this.source === 'env' ? `env ${this.name}` : this.name})`;
  }
}
