import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How OpenSSH names a host in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named inside an SSH public key blob, e.g. `ssh-ed25519`. */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('ascii');
}

/** `SHA256:…`, as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return pattern.split(',').some((p) => {
    if (p.startsWith('!')) return false;
    const re = new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    return re.test(name);
  });
}

export type HostKeyVerdict = 'known' | 'unknown' | 'changed';

/** Checks `blob` for host `name` against known_hosts files: known, unknown, or a changed (mismatching) key. */
export function checkHostKey(files: readonly string[], name: string, blob: Buffer): HostKeyVerdict {
  const type = keyType(blob);
  let sawSameType = false;
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const raw of readFileSync(file, 'utf8').split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const fields = line.split(/\s+/);
      if (fields[0]?.startsWith('@')) continue; // @cert-authority / @revoked markers: not handled here
      const [hosts, t, key] = fields;
      if (!hosts || !t || !key || !patternMatches(hosts, name)) continue;
      if (t !== type) continue;
      if (Buffer.from(key, 'base64').equals(blob)) return 'known';
      sawSameType = true;
    }
  }
  return sawSameType ? 'changed' : 'unknown';
}

/** Appends a host key, as `StrictHostKeyChecking accept-new` does. */
export function rememberHostKey(file: string, name: string, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${name} ${keyType(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
