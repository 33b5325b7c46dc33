import { LITERALS_DIRECTIVE, comment, word, type RuntimeRef, type ShellValue } from '../shell/index.js';

export interface StageSpec {
  readonly source: ShellValue;
  readonly destination: RuntimeRef;
  readonly mode: 'unzip' | 'untar' | 'copy' | 'rsync';
  readonly sha256?: string;
  readonly header: string;
}

/** The script that stages one dataset onto this node's local disk. Idempotent within a job. */
export function renderStageScript(spec: StageSpec): string {
  const src = word(spec.source);
  const dest = word(spec.destination);
  const lines = [
    '#!/usr/bin/env bash',
    comment(spec.header),
    LITERALS_DIRECTIVE,
    'set -euo pipefail',
    `src=${src}`,
    `dest=${dest}`,
  ];
  lines.push('[ -e "$src" ] || { echo "hpcdk: dataset source $src does not exist on $(hostname)" >&2; exit 1; }');
  if (spec.sha256) {
    lines.push(
      `echo "${spec.sha256}  $src" | sha256sum --check --quiet - || { echo "hpcdk: $src changed: its sha256 is not the one the stack declares" >&2; exit 1; }`,
    );
  }
  lines.push('mkdir -p "$dest"');
  switch (spec.mode) {
    case 'unzip':
      lines.push('unzip -q -o "$src" -d "$dest"');
      break;
    case 'untar':
      lines.push('tar -xf "$src" -C "$dest"');
      break;
    case 'copy':
      lines.push('cp -R "$src" "$dest/"');
      break;
    case 'rsync':
      lines.push('rsync -a "$src/" "$dest/"');
      break;
  }
  lines.push('echo "hpcdk: staged $src to $dest on $(hostname) ($(du -sh "$dest" | cut -f1))"');
  return `${lines.join('\n')}\n`;
}
