import { canonicalJson } from '../core/digest.js';
import { LITERALS_DIRECTIVE, comment, exportLine } from '../shell/index.js';

/** One array task's point: its index in the chunk, identity, address and parameters. */
export interface ChunkPoint {
  readonly index: number;
  readonly identity: string;
  readonly address: string;
  readonly key: string;
  readonly params: Readonly<Record<string, string | number | boolean>>;
}

/**
 * The params file of one submitted array chunk: sourced by each task, it
 * exports that task's parameters (quoted) chosen by SLURM_ARRAY_TASK_ID.
 * The `# point` lines map indexes back to points, for plan.
 */
export function renderParamsFile(sweep: string, chunk: string, points: readonly ChunkPoint[]): string {
  const lines = [LITERALS_DIRECTIVE, comment(`hpcdk params for sweep ${sweep}, chunk ${chunk}`)];
  for (const p of points) lines.push(`# point ${p.index} ${p.identity} ${p.address}`);
  lines.push('case "${SLURM_ARRAY_TASK_ID:?not an array task}" in');
  for (const p of points) {
    const exports = [
      exportLine('HPCDK_POINT', p.key),
      exportLine('HPCDK_IDENTITY', p.identity),
      exportLine('HPCDK_PARAMS_JSON', canonicalJson(p.params)),
      ...Object.keys(p.params)
        .sort()
        .map((name) => exportLine(name, String(p.params[name]))),
    ];
    lines.push(`  ${p.index})`, ...exports.map((e) => `    ${e}`), '    ;;');
  }
  lines.push(
    '  *)',
    '    echo "hpcdk: no parameters for array index ${SLURM_ARRAY_TASK_ID}" >&2',
    '    exit 1',
    '    ;;',
    'esac',
  );
  return `${lines.join('\n')}\n`;
}
