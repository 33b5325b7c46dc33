import { comment, quote } from '../shell/index.js';
import { LOGS_DIR, packageLockFile } from '../state/layout.js';

/** What a run's record names besides what the job learns at run time. */
export interface RunRecordSpec {
  readonly stack: string;
  readonly address: string;
  /** The environment the steps run in, by address: its recorded lock is hashed. */
  readonly environment?: string;
  /** The image the steps run in, by address: its recorded digest (or .sif sha256) is copied. */
  readonly image?: string;
}

/** Where a run's record is, relative to the stack folder: next to its logs, named by job id (`<array id>_<task>` for array tasks). */
export function runRecordPath(address: string, jobKey: string): string {
  return `${LOGS_DIR}/${address}/${jobKey}.run.json`;
}

/**
 * The function that writes `run.json` next to the run's logs: when the
 * steps start and again when the job ends. Every value is JSON-escaped at
 * run time; the identity and parameters come from the submission
 * (HPCDK_IDENTITY, HPCDK_PARAMS_JSON), the script's hash from the script
 * the scheduler ran.
 */
export function renderRunRecord(spec: RunRecordSpec): string[] {
  const lockFile = (address: string) => `\${HPCDK_STACK_DIR}/${packageLockFile(address)}`;
  const json = (value: string) => `"$(hpcdk_json "${value}")"`;
  const optional = (value: string) => `"$(if [ -n "${value}" ]; then hpcdk_json "${value}"; else printf null; fi)"`;
  return [
    comment('hpcdk: the provenance record of this run (run.json, next to its logs).'),
    'hpcdk_run_started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"',
    `hpcdk_run_file="\${HPCDK_STACK_DIR}/${runRecordPath(spec.address, '${hpcdk_job_key:-${SLURM_JOB_ID:-unknown}}')}"`,
    'hpcdk_json() {',
    '  local s=${1//\\\\/\\\\\\\\}',
    "  s=${s//\\\"/\\\\\\\"}; s=${s//$'\\n'/\\\\n}; s=${s//$'\\t'/\\\\t}; s=${s//$'\\r'/\\\\r}",
    '  printf \'"%s"\' "$s"',
    '}',
    'hpcdk_sha() { if [ -f "$1" ]; then sha256sum -- "$1" | cut -d" " -f1; fi; }',
    '# shellcheck disable=SC2317 # also called from the EXIT trap',
    'hpcdk_write_run() {',
    `  local state=$1 code=\${2:-}${spec.environment ? ' env_lock=""' : ''}${spec.image ? ' image_digest=""' : ''}`,
    ...(spec.environment
      ? [
          `  env_lock="$(hpcdk_sha "${lockFile(spec.environment)}")"`,
          '  [ -n "$env_lock" ] || env_lock="$(hpcdk_sha "${hpcdk_freeze_dir:-/nonexistent}/${hpcdk_job_key:-${SLURM_JOB_ID:-unknown}}.txt")"',
        ]
      : []),
    ...(spec.image ? [`  image_digest="$(head -n 1 "${lockFile(spec.image)}" 2>/dev/null || true)"`] : []),
    '  mkdir -p "$(dirname "$hpcdk_run_file")"',
    '  {',
    `    printf '{"address":%s,"stack":%s,"identity":%s' ${quote(JSON.stringify(spec.address))} ${quote(JSON.stringify(spec.stack))} ${optional('${HPCDK_IDENTITY:-}')}`,
    `    printf ',"jobId":%s,"arrayJobId":%s,"arrayTaskId":%s' ${json('${SLURM_JOB_ID:-}')} ${optional('${SLURM_ARRAY_JOB_ID:-}')} ${optional('${SLURM_ARRAY_TASK_ID:-}')}`,
    `    printf ',"restartCount":%s,"host":%s,"state":%s' "\${SLURM_RESTART_COUNT:-0}" ${json('$(hostname)')} ${json('$state')}`,
    `    printf ',"start":%s,"end":%s,"exitCode":%s' ${json('$hpcdk_run_started')} ${optional('$([ "$state" = running ] || date -u +%Y-%m-%dT%H:%M:%SZ)')} "\${code:-null}"`,
    `    printf ',"codeCommit":%s,"scriptSha256":%s,"point":%s' ${optional('${HPCDK_CODE_COMMIT:-}')} ${json('$(hpcdk_sha "$0")')} ${optional('${HPCDK_POINT:-}')}`,
    `    printf ',"params":%s' "\${HPCDK_PARAMS_JSON:-null}"`,
    ...(spec.environment
      ? [
          `    printf ',"environment":{"address":%s,"lockSha256":%s}' ${quote(JSON.stringify(spec.environment))} ${optional('$env_lock')}`,
        ]
      : [`    printf ',"environment":null'`]),
    ...(spec.image
      ? [
          `    printf ',"image":{"address":%s,"digest":%s}}\\n' ${quote(JSON.stringify(spec.image))} ${optional('$image_digest')}`,
        ]
      : [`    printf ',"image":null}\\n'`]),
    '  } > "$hpcdk_run_file.partial" && mv -f "$hpcdk_run_file.partial" "$hpcdk_run_file"',
    '}',
  ];
}
