/** The human views of `hpcdk images` and `hpcdk gc`. */
import type { Colors } from './colors.js';
import type { GcItem, ImageRow, ItemKind } from '../ops/gc/decide.js';

/** `2.1 GB`: decimal units, one decimal from kB up. */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `14 days`, `3 hours`, `1 minute`, `5 seconds`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const [n, unit] =
    s >= 86400
      ? [Math.floor(s / 86400), 'day']
      : s >= 3600
        ? [Math.floor(s / 3600), 'hour']
        : s >= 60
          ? [Math.floor(s / 60), 'minute']
          : [s, 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** `sha256:0123456789ab`. */
const shortDigest = (d: string | undefined) => (d ? d.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, '$1') : '-');

/** The `images` table: one row per image or .sif, aligned columns. */
export function renderImages(rows: readonly ImageRow[], target: string): string {
  if (rows.length === 0) return `No images built by hpcdk on ${target}.`;
  const header = ['STACK', 'ADDRESS', 'IMAGE', 'IDENTITY', 'DIGEST', 'SIZE', 'AGE', 'STATUS'];
  const cells = rows.map((r) => [
    r.stack || '-',
    r.address ?? '-',
    r.image,
    r.identity ?? '-',
    shortDigest(r.digest),
    formatSize(r.size),
    formatAge(r.age),
    r.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join('  ');
  return [`Images on ${target}:`, line(header), ...cells.map(line)].join('\n');
}

const NOUN: Record<ItemKind, string> = {
  image: 'image',
  'untagged-image': 'untagged image',
  bundle: 'code bundle',
  params: 'params file',
  run: 'logs of job',
  'build-log': 'build log',
  file: 'deployed file',
  leftover: 'leftover',
  stack: 'stack folder',
};

/** `- image localhost/hpcdk-rsm-image:h0123… (stack rsm, address image, 2.1 GB, 14 days old): no stack references it` */
export function itemLine(item: GcItem, c: Colors): string {
  const where = [
    ...(item.stack ? [`stack ${item.stack}`] : []),
    ...(item.address ? [`address ${item.address}`] : []),
    ...(item.files !== undefined ? [`${item.files} file${item.files === 1 ? '' : 's'}`] : []),
    formatSize(item.size),
    ...(item.age > 0 ? [`${formatAge(item.age)} old`] : []),
  ];
  const text = `${NOUN[item.kind]} ${item.what} (${where.join(', ')}): ${item.reason}`;
  return item.remove ? c.red(`  - ${text}`) : `  = ${text}`;
}

/** `GC: 3 to remove, 4 kept.` */
export function gcSummary(items: readonly GcItem[]): string {
  const remove = items.filter((i) => i.remove).length;
  return `GC: ${remove} to remove, ${items.length - remove} kept.`;
}

/** The preview for one target: the legend, what goes, what stays and why, and notes per stack. */
export function renderGc(target: string, items: readonly GcItem[], notes: readonly string[], c: Colors): string {
  const lines = [`Garbage on ${target}. Symbols:`, `  ${c.red('-')} remove`, '  = keep', ''];
  if (items.length === 0) lines.push('  (nothing hpcdk made here beyond what the stacks use)');
  const removed = items.filter((i) => i.remove);
  const kept = items.filter((i) => !i.remove);
  if (removed.length > 0) lines.push(...removed.map((i) => itemLine(i, c)));
  if (removed.length > 0 && kept.length > 0) lines.push('');
  if (kept.length > 0) lines.push(...kept.map((i) => itemLine(i, c)));
  if (notes.length > 0) lines.push('', ...notes.map((n) => c.yellow(`Note: ${n}`)));
  const freed = removed.reduce((n, i) => n + i.size, 0);
  lines.push('', gcSummary(items), ...(removed.length > 0 ? [`${formatSize(freed)} to free.`] : []));
  return lines.join('\n');
}
