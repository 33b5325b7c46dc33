import { posix } from 'node:path';
import { buildOf } from '../../core/resource-spec.js';
import { foldJournal } from '../../state/journal.js';
import type { ManifestResource } from '../../core/output.js';
import type { TargetConnection } from '../target-connection.js';
import { AutomationRefusedError } from './commands.js';
import { remoteLayout } from './transport.js';
import { JOURNAL_FILE } from '../../state/layout.js';

/** Why a resource cannot be applied on an automation node. */
export function buildRefusal(resource: { readonly address: string; readonly kind: string }): string {
  return `[${resource.address}] ${resource.kind} cannot be built on an automation node: build it in the job (build: 'job') or apply once from an interactive session`;
}

/**
 * Refuses, before anything is written, a plan that would build on the login
 * node (an environment, a code bundle's unpack, an image, a wheelhouse):
 * their build scripts are shell. Reads only the journal, over sftp, to let
 * through what an interactive apply already built.
 */
export async function refuseLoginBuilds(
  conn: TargetConnection,
  stack: string,
  resources: readonly ManifestResource[],
): Promise<void> {
  const buildable = resources.filter((r) => buildOf(r) !== undefined);
  if (buildable.length === 0) return;
  const { channel, stackDir } = remoteLayout(conn, stack);
  const [journal] = await channel.read([posix.join(stackDir, JOURNAL_FILE)]);
  const built = foldJournal(journal?.toString('utf8') ?? '').built;
  const refused = buildable.filter((r) => built.get(r.address) !== r.identity);
  if (refused.length > 0) throw new AutomationRefusedError(refused.map(buildRefusal).join('\n'));
}
