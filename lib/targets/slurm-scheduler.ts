import { posix } from 'node:path';
import { quote } from '../shell/index.js';
import { QUEUED_STATES } from '../state/job-states.js';
import type { Scheduler, SubmitRequest } from './scheduler.js';
import { recentJobIdsCommand } from '../state/journal.js';

/** The --dependency value, built in bash because ids of jobs submitted in this apply are known only there. */
export function dependencyLines(request: SubmitRequest): string {
  const lines = [`hpcdk_deps="${request.singleton ? 'singleton' : ''}"`];
  for (const d of request.dependencies) {
    const id = d.jobId !== undefined ? quote(d.jobId) : `"\${hpcdk_ids[${quote(d.submittedAddress ?? '')}]}"`;
    lines.push(`hpcdk_deps="\${hpcdk_deps:+\${hpcdk_deps},}${d.type}:"${id}`);
  }
  return lines.join('\n');
}

/** ` --array=0-N%T` for array submissions. */
export function arrayOption(r: SubmitRequest): string {
  if (!r.array) return '';
  return ` --array=0-${r.array.size - 1}${r.array.throttle ? `%${r.array.throttle}` : ''}`;
}

/** SLURM: squeue for state, sacct where accounting exists, sbatch --parsable to submit. */
export class SlurmScheduler implements Scheduler {
  public readonly name = 'slurm';

  public readonly functions = `
# sshd sets USER for the login; id -un where nothing did.
hpcdk_user="\${USER:-$(id -un)}"
# The id of an active job with this comment, if one exists: a job submitted by an
# apply that was killed before it could record it is found, not submitted twice.
# An array shows as 12_[0-3] or 12_4: its job id is 12.
hpcdk_active_job() {
  squeue -h -u "$hpcdk_user" -t ${QUEUED_STATES.join(',')} -o '%i|%k' 2>/dev/null \\
    | awk -F'|' -v c="$1" '$2 == c { sub(/_.*/, "", $1); print $1; exit }'
}`;

  public queryLines(commentPrefix: string): string {
    return [
      // -r: one line per array task, so each sweep point has its own state.
      `squeue -h -r -t all -u "$(id -un)" -o '%i|%T|%k' 2>/dev/null | awk -F'|' -v p=${quote(commentPrefix)} 'index($3, p) == 1' || true`,
      // Jobs that left squeue: ask sacct, where accounting is on (one call for all recorded ids).
      `hpcdk_ids_csv=$(${recentJobIdsCommand(500)})`,
      `if [ -n "$hpcdk_ids_csv" ] && command -v sacct >/dev/null 2>&1; then`,
      // Bounded: a slow or stopped slurmdbd must not hold the whole plan.
      `  timeout 15 sacct -n -P -X -j "$hpcdk_ids_csv" -o 'JobID,State,Comment' 2>/dev/null | awk -F'|' '{ print $1 "|" $2 "|" $3 }' | sed 's/^/sacct:/' || true`,
      `fi`,
    ].join('\n');
  }

  public submitLines(r: SubmitRequest): string {
    return [
      dependencyLines(r),
      `hpcdk_job_id="$(hpcdk_active_job ${quote(r.comment)})"`,
      `if [ -z "$hpcdk_job_id" ]; then`,
      `  mkdir -p -- ${quote(posix.dirname(r.stdout))} ${quote(posix.dirname(r.stderr))}`,
      // The job inherits these (sbatch exports the environment): its params, and its identity for run.json.
      `  hpcdk_job_id="$(HPCDK_IDENTITY=${quote(r.identity)} ${r.paramsFile ? `HPCDK_PARAMS_FILE="$D/"${quote(r.paramsFile)} ` : ''}sbatch --parsable --comment=${quote(r.comment)}${arrayOption(r)} \${hpcdk_deps:+--dependency="$hpcdk_deps"} -- ${quote(`files/${r.script}`)})"`,
      `  hpcdk_job_id="\${hpcdk_job_id%%;*}"`,
      `fi`,
    ].join('\n');
  }

  public readonly testOnlyCommand = 'sbatch --test-only "$1"';

  public cancelLines(jobIds: readonly string[]): string {
    return jobIds.length === 0 ? ':' : `scancel ${jobIds.map(quote).join(' ')} || true`;
  }
}
