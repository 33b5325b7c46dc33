import { readAsset } from '../../core/assets.js';
import { sha256 } from '../../core/digest.js';

/**
 * The helper hpcdk uploads to an automation node and runs as
 * `python3 <base>/.hpcdk/helper-<hash>.py <mode> <request.json>`: the read
 * and apply scripts' work done without a shell, since the node's wrapper
 * allows no bash. Every program it starts is an argument list (sbatch,
 * squeue, scancel), never a shell line. Its output is what the shell
 * scripts print, so plan and apply parse it with the same code.
 *
 * Modes: `read` (the sections of lib/plan/read-target.ts), `apply` (the `@@`
 * lines of lib/targets/shell/apply-script.ts) and `unlock` (force-unlock). The request
 * names the stack; the stack folder is `<base>/<stack>`, `<base>` being two
 * levels above the helper. Python 3.6 or later.
 */
export const HELPER_PY = readAsset('targets/automation/helper.py');

/** Names the helper by its content, so a changed helper is uploaded and an unchanged one never again. */
export const HELPER_NAME = `helper-${sha256(HELPER_PY).slice(0, 16)}.py`;
