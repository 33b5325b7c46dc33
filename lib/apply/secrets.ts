import type { ManifestResource } from '../core/output.js';
import type { Plan } from '../plan/plan.js';
import { HpcdkError } from '../core/hpcdk-error.js';
import { isRunnable, runGroup } from '../core/resource-spec.js';

/** A secret's value for one apply, never written anywhere on this side. */
export interface SecretValue {
  readonly name: string;
  readonly value: string;
}

export class MissingSecretError extends HpcdkError {
  constructor(
    public readonly names: readonly string[],
    public readonly users: readonly string[],
  ) {
    super(
      `secret${names.length === 1 ? '' : 's'} ${names.join(', ')}: not set in the environment of this apply (needed by ${users.join(', ')}); nothing was done`,
    );
    this.name = 'MissingSecretError';
  }
}

/**
 * The values of the secrets the jobs this plan submits need, read from this
 * process's environment now. Taken at apply time only, so a saved plan never
 * holds one.
 */
export function secretsToUpload(
  plan: Plan,
  resources: readonly ManifestResource[],
  env: NodeJS.ProcessEnv = process.env,
): SecretValue[] {
  const submitting = new Set(
    plan.resources.filter((r) => r.action === 'submit' || r.action === 'replace').map((r) => r.address),
  );
  const needed = new Map<string, string[]>();
  for (const r of resources.filter(isRunnable)) {
    if (!submitting.has(r.address)) continue;
    for (const name of r.spec.secrets) {
      const users = needed.get(name) ?? [];
      const user = runGroup(r);
      if (!users.includes(user)) users.push(user);
      needed.set(name, users);
    }
  }
  const missing = [...needed.keys()].filter((name) => env[name] === undefined);
  if (missing.length > 0)
    throw new MissingSecretError(missing.sort(), [...new Set(missing.flatMap((m) => needed.get(m)!))].sort());
  return [...needed.keys()].sort().map((name) => ({ name, value: env[name]! }));
}
