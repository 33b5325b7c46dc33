import { LITERALS_DIRECTIVE, comment, word, type RuntimeRef } from '../shell/index.js';
import { BUNDLE_COMMIT_FILE } from '../state/layout.js';

export interface UnpackSpec {
  readonly archive: RuntimeRef;
  readonly commitFile: RuntimeRef;
  readonly destination: RuntimeRef;
  readonly header: string;
}

/** Unpacks an uploaded bundle into its content-addressed folder: all of it, or nothing (a rename). */
export function renderUnpackScript(spec: UnpackSpec): string {
  return `${[
    '#!/usr/bin/env bash',
    comment(spec.header),
    LITERALS_DIRECTIVE,
    'set -euo pipefail',
    `archive=${word(spec.archive)}`,
    `dest=${word(spec.destination)}`,
    `if [ -f "$dest/${BUNDLE_COMMIT_FILE}" ]; then`,
    `  echo "hpcdk: $dest is already unpacked (commit $(cat "$dest/${BUNDLE_COMMIT_FILE}"))"`,
    '  exit 0',
    'fi',
    'rm -rf "$dest.partial"',
    'mkdir -p "$dest.partial"',
    'tar -xzf "$archive" -C "$dest.partial"',
    `cp ${word(spec.commitFile)} "$dest.partial/${BUNDLE_COMMIT_FILE}"`,
    'mv "$dest.partial" "$dest"',
    'rm -f "$archive"',
    `echo "hpcdk: unpacked commit $(cat "$dest/${BUNDLE_COMMIT_FILE}") into $dest"`,
  ].join('\n')}\n`;
}
