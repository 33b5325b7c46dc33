import { posix } from 'node:path';
import { renderParamsFile } from '../../render/params.js';
import { base64Lines, quote, word, wrapBase64 } from '../../shell/index.js';
import { JOURNAL_FUNCTION, serialCheckLines } from '../../state/journal.js';
import {
  FILES_DIR,
  INCOMING_DIR,
  JOURNAL_FILE,
  LOGS_DIR,
  PACKAGE_LOCKS_DIR,
  PARAMS_DIR,
  SECRETS_DIR,
  packageLockFile,
} from '../../state/layout.js';
import { takeLockLines } from '../../state/lock.js';
import type { ApplyProgram, BuildStep, Submission } from '../apply-program.js';
import type { TargetConnection } from '../target-connection.js';

/**
 * The one script that carries out an apply program on the target: take the
 * lock, check nothing changed since the plan, cancel, upload, build, submit,
 * journal each step as soon as it is done, release the lock. Lines starting
 * `@@` report progress.
 */
export function applyScript(conn: TargetConnection, program: ApplyProgram): string {
  // Every folder the script writes into, made by one process.
  const folders = new Set([INCOMING_DIR, FILES_DIR]);
  for (const f of program.files) if ('upload' in f) folders.add(posix.join(FILES_DIR, posix.dirname(f.upload.path)));
  for (const s of program.submissions) if (s.chunk) folders.add(posix.join(PARAMS_DIR, s.chunk.sweep));
  const parts: string[] = [];
  parts.push(`set -Eeo pipefail
# Whatever stops the script says what it was: no failure without a message.
trap 'echo "hpcdk: apply stopped (exit $?) at: $BASH_COMMAND" >&2' ERR
D=${word(conn.stackDir(program.stack))}
${JOURNAL_FUNCTION}
${conn.scheduler.functions}
mkdir -p ${[...folders].map((f) => `"$D/"${quote(f)}`).join(' ')}
${takeLockLines(program.operation)}
${serialCheckLines(program.serial)}${program.submissions.length > 0 ? '\ndeclare -A hpcdk_ids=()' : ''}`);

  // Cancels first: nothing a queued or running job may still read is replaced or removed before it has let go.
  if (program.cancels.length > 0) {
    parts.push(`(
cd "$D"
${conn.scheduler.cancelLines(program.cancels)}
)`);
    for (const id of program.cancels)
      parts.push(`hpcdk_journal cancel ${quote(id)}\necho "@@step cancel "${quote(id)}`);
  }
  let step = 0;
  for (const f of program.files) {
    if ('remove' in f) {
      parts.push(`rm -f -- "$D/${FILES_DIR}/"${quote(f.remove)}
hpcdk_journal rmfile ${quote(f.remove)}
echo "@@step delete "${quote(f.remove)}`);
      continue;
    }
    const u = f.upload;
    step += 1;
    const tmp = `$D/${INCOMING_DIR}/${step}`;
    parts.push(`base64 -d > "${tmp}" <<'HPCDK_FILE'
${base64Lines(u.content)}
HPCDK_FILE
chmod ${u.executable ? '755' : '644'} "${tmp}"
mv -f "${tmp}" "$D/${FILES_DIR}/"${quote(u.path)}
hpcdk_journal file ${quote(u.path)} ${u.sha256}
echo "@@step upload "${quote(u.path)}`);
  }
  for (const p of program.payloads) {
    parts.push(`mkdir -p "$D/"${quote(posix.dirname(p.path))}
base64 -d > "$D/"${quote(p.path)}.partial <<'HPCDK_PAYLOAD'
${wrapBase64(p.base64)}
HPCDK_PAYLOAD
mv -f "$D/"${quote(p.path)}.partial "$D/"${quote(p.path)}`);
  }
  for (const b of program.builds) parts.push(buildLines(b));
  for (const secret of program.secrets) {
    // Readable by the owner only, and put in place whole.
    const file = `"$D/${SECRETS_DIR}/"${quote(secret.name)}`;
    parts.push(`( umask 077 && mkdir -p "$D/${SECRETS_DIR}" && base64 -d > ${file}.partial <<'HPCDK_SECRET'
${base64Lines(secret.value)}
HPCDK_SECRET
chmod 600 ${file}.partial && mv -f ${file}.partial ${file} )`);
  }
  for (const s of program.submissions) {
    const { request, chunk, inputsLine: made } = s;
    if (chunk) {
      parts.push(chunkLines(conn, s), `hpcdk_journal ${made.map(quote).join(' ')}`);
      continue;
    }
    parts.push(`cd "$D"
${conn.scheduler.submitLines(request)}
hpcdk_ids[${quote(request.address)}]="$hpcdk_job_id"
hpcdk_journal job ${quote(request.address)} ${request.identity} "$hpcdk_job_id"
hpcdk_journal ${made.map(quote).join(' ')}
echo "@@submitted "${quote(request.address)} "$hpcdk_job_id"`);
  }
  for (const address of program.forgets) parts.push(`hpcdk_journal forget ${quote(address)}`);
  parts.push(`rm -rf "$D/${INCOMING_DIR}"\necho "@@done"`);
  return parts.join('\n');
}

/** Builds one resource, its check and its package lock, logging to its build.log; exits 5 on failure. */
function buildLines({ address, identity, build, inputsLine }: BuildStep): string {
  const log = `$D/${LOGS_DIR}/${address}/build.log`;
  const run = (
    script: string,
    what: string,
  ) => `if ! ( cd "$D" && HPCDK_STACK_DIR="$D" bash "${FILES_DIR}/"${quote(script)} ) >> "${log}" 2>&1; then
  echo "@@failed ${what} "${quote(address)}
  tail -n 25 "${log}" >&2
  exit 5
fi`;
  const lockFile = `"$D/"${quote(packageLockFile(address))}`;
  return `mkdir -p "$D/${LOGS_DIR}/"${quote(address)} "$D/${PACKAGE_LOCKS_DIR}/"${quote(address)}
: > "${log}"
echo ${quote(`@@note building ${address} (log: ${LOGS_DIR}/${address}/build.log)`)}
${run(build.script, 'build')}
${build.check ? run(build.check, 'check') : ':'}
${build.lock ? `( cd "$D" && HPCDK_STACK_DIR="$D" bash -c ${quote(build.lock)} ) > ${lockFile}.tmp 2>> "${log}" && mv -f ${lockFile}.tmp ${lockFile}` : ':'}
hpcdk_journal built ${quote(address)} ${identity}
hpcdk_journal ${inputsLine.map(quote).join(' ')}
# What the build said of itself (which path it took), for the person applying.
grep '^hpcdk: ' "${log}" | sed 's/^hpcdk: /@@note /' || true
echo "@@step build "${quote(address)}`;
}

/**
 * Writes a chunk's params file, submits the array, journals every point as
 * `<array id>_<index>`. The params file and the job lines are written by
 * bash's own printf: at 1,000 points a `base64 -d` and a here-document cost
 * two processes and twenty milliseconds.
 */
function chunkLines(conn: TargetConnection, { request, chunk }: Submission): string {
  const { id, sweep, points } = chunk!;
  const triples = points.map((p) => `${quote(p.address)} ${p.identity} ${p.index}`).join('\n  ');
  // Written ahead: if apply dies between sbatch and the job lines, plan still maps the chunk's tasks to its points.
  const intent = `hpcdk_journal chunk ${quote(sweep)} chunk-${id} ${points.map((p) => `${quote(p.address)} ${p.identity}`).join(' ')}`;
  // The params file is written as a literal: nothing in it expands here.
  return `# shellcheck disable=SC2016
printf '%s' ${quote(renderParamsFile(sweep, id, points))} > "$D/"${quote(request.paramsFile!)}
${intent}
cd "$D"
${conn.scheduler.submitLines(request)}
hpcdk_ids[${quote(sweep)}]="\${hpcdk_ids[${quote(sweep)}]:+\${hpcdk_ids[${quote(sweep)}]}:}$hpcdk_job_id"
hpcdk_points=(
  ${triples}
)
printf "job %s %s \${hpcdk_job_id}_%s \${EPOCHSECONDS:-0}\\n" "\${hpcdk_points[@]}" >> "$D/${JOURNAL_FILE}"
echo "@@submitted "${quote(sweep)} "$hpcdk_job_id" ${points.length}`;
}
