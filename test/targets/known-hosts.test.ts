import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkHostKey, fingerprint, keyType, knownHostName, rememberHostKey } from '../../lib/targets/known-hosts.js';

/** An ssh-ed25519 public key blob: string "ssh-ed25519", string 32 key bytes. */
function blob(seed: number): Buffer {
  const type = Buffer.from('ssh-ed25519');
  const key = Buffer.alloc(32, seed);
  const out = Buffer.alloc(4 + type.length + 4 + key.length);
  out.writeUInt32BE(type.length, 0);
  type.copy(out, 4);
  out.writeUInt32BE(key.length, 4 + type.length);
  key.copy(out, 8 + type.length);
  return out;
}

describe('known_hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hpcdk-kh-'));

  it('names hosts as OpenSSH does', () => {
    expect(knownHostName('narval', 22)).toBe('narval');
    expect(knownHostName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('knows a listed key, including [host]:port and wildcard entries', () => {
    const file = join(dir, 'plain');
    writeFileSync(
      file,
      `# comment\n[127.0.0.1]:2222 ssh-ed25519 ${blob(1).toString('base64')}\n*.example.invalid ssh-ed25519 ${blob(2).toString('base64')}\n`,
    );
    expect(checkHostKey([file], '[127.0.0.1]:2222', blob(1))).toBe('known');
    expect(checkHostKey([file], 'login.example.invalid', blob(2))).toBe('known');
    expect(checkHostKey([file], '127.0.0.1', blob(1))).toBe('unknown');
  });

  it('reports a different key of the same type for a known host as changed', () => {
    const file = join(dir, 'changed');
    writeFileSync(file, `narval ssh-ed25519 ${blob(1).toString('base64')}\n`);
    expect(checkHostKey([file], 'narval', blob(9))).toBe('changed');
  });

  it('matches hashed entries', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[127.0.0.1]:2222').digest('base64');
    const file = join(dir, 'hashed');
    writeFileSync(file, `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${blob(3).toString('base64')}\n`);
    expect(checkHostKey([file], '[127.0.0.1]:2222', blob(3))).toBe('known');
    expect(checkHostKey([file], '[127.0.0.1]:2223', blob(3))).toBe('unknown');
  });

  it('records a new key so the next check knows it', () => {
    const file = join(dir, 'sub', 'known_hosts');
    rememberHostKey(file, 'new-host', blob(4));
    expect(readFileSync(file, 'utf8')).toBe(`new-host ssh-ed25519 ${blob(4).toString('base64')}\n`);
    expect(checkHostKey([file], 'new-host', blob(4))).toBe('known');
    expect(keyType(blob(4))).toBe('ssh-ed25519');
    expect(fingerprint(blob(4))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
