/**
 * Where a job's output lands on the target, and how hpcdk finds it again:
 * SLURM's filename patterns (`%x` job name, `%j` job id, `%A`/`%a` array job
 * and task) expanded the one way SLURM does, in TypeScript (automation
 * node, gc) and in the bash that `hpcdk logs` runs on a shell target.
 */
import { quote, word, type ShellValue } from '../shell/index.js';
import { JOURNAL_FILE } from './layout.js';

/** The newest job id the journal records for `address` (the last `job` line, as `hpcdk logs` reads it). */
export function lastJobId(journal: string, address: string): string | undefined {
  let id: string | undefined;
  for (const line of journal.split('\n')) {
    const f = line.split(/\s+/);
    if (f[0] === 'job' && f[1] === address && f[3]) id = f[3];
  }
  return id;
}

/** A job's output path from its `--output` pattern: %x, %j, and for array tasks (`<id>_<index>`) %A and %a. */
export function logPath(pattern: string, jobName: string, id: string): string {
  const cut = id.lastIndexOf('_');
  return pattern
    .replaceAll('%x', jobName)
    .replaceAll('%j', id)
    .replaceAll('%A', cut < 0 ? id : id.slice(0, cut))
    .replaceAll('%a', cut < 0 ? id : id.slice(cut + 1));
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A SLURM filename pattern (`logs/train/%x-%j.out`) as a regex over paths
 * relative to the stack folder: `%x` is the job name, `%j` and `%A` the job
 * id (the local target writes `<id>_<index>` for an array task's `%j`).
 */
export function patternRegex(pattern: string, jobName: string): RegExp | undefined {
  if (pattern.startsWith('/')) return undefined;
  let re = '';
  let hasId = false;
  const seen = new Set<string>();
  const group = (name: string, body: string) => {
    if (seen.has(name)) return `\\k<${name}>`;
    seen.add(name);
    return `(?<${name}>${body})`;
  };
  for (let i = 0; i < pattern.length; i += 1) {
    const m = /^%(\d*)([A-Za-z%])/.exec(pattern.slice(i));
    if (!m) {
      re += escapeRegex(pattern[i]!);
      continue;
    }
    i += m[0].length - 1;
    switch (m[2]) {
      case '%':
        re += '%';
        break;
      case 'x':
        re += escapeRegex(jobName);
        break;
      case 'j':
        re += group('j', '\\d+(?:_\\d+)?');
        hasId = true;
        break;
      case 'A':
        re += group('A', '\\d+');
        hasId = true;
        break;
      case 'a':
        re += group('a', '\\d+');
        break;
      default:
        re += '[^/]*';
    }
  }
  return hasId ? new RegExp(`^${re}$`) : undefined;
}

/** What `hpcdk logs` reads: one job's output file, by the job's address and its output pattern. */
export interface LogRequest {
  readonly stackDir: ShellValue;
  readonly address: string;
  readonly jobName: string;
  /** The job's `--output` or `--error` pattern, relative to the stack folder. */
  readonly pattern: string;
  /** A job id to read instead of the newest the journal records. */
  readonly job?: string;
}

/**
 * The script that prints one job's log: the newest job id from the journal
 * (or the one asked for), the pattern expanded as {@link logPath} does.
 * Exits 3 when the job was never submitted, 4 when it wrote nothing yet.
 */
export function readLogScript(r: LogRequest): string {
  return `D=${word(r.stackDir)}
id=${r.job ? quote(r.job) : `$(awk -v a=${quote(r.address)} '$1 == "job" && $2 == a { id = $4 } END { print id }' "$D/${JOURNAL_FILE}" 2>/dev/null)`}
if [ -z "$id" ]; then echo ${quote(`hpcdk: ${r.address} has not been submitted`)} >&2; exit 3; fi
p=${quote(r.pattern)}
p=\${p//%x/${quote(r.jobName)}}
p=\${p//%j/$id}
# Array tasks: <array job id>_<task index>.
p=\${p//%A/\${id%_*}}
p=\${p//%a/\${id##*_}}
if [ ! -f "$D/$p" ]; then echo "hpcdk: no output yet at $p (job $id)" >&2; exit 4; fi
cat -- "$D/$p"`;
}
