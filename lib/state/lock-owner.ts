/**
 * The owner line of a target's apply lock, as the apply script writes it:
 * `<user>@<machine> op=<operation> host=<target host> pid=<pid> since=<epoch>`.
 */

/** `root@laptop op=apply host=login1 pid=42 since=1795406294` as `root@laptop (apply, pid 42 on login1, since 2026-11-23 03:58:14 UTC)`. */
export function describeLockOwner(owner: string): string {
  const who = /^(\S+)/.exec(owner)?.[1] ?? 'unknown';
  const field = (name: string) => new RegExp(`(?:^| )${name}=(\\S+)`).exec(owner)?.[1];
  const since = Number(field('since'));
  const details = [
    field('op'),
    field('pid') && field('host') ? `pid ${field('pid')} on ${field('host')}` : undefined,
    Number.isFinite(since) && since > 0 ? `since ${new Date(since * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}` : undefined,
  ].filter(Boolean);
  return details.length > 0 ? `${who} (${details.join(', ')})` : owner;
}
