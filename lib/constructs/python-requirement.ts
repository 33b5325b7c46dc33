/**
 * PEP 508 requirements and PEP 440 versions, as far as hpcdk needs them:
 * validate what a stack declares, render it canonically (so reordering or
 * re-spelling a name changes nothing), and check an installed version
 * against a declared specifier (drift). Pure functions, no I/O.
 */

/** One version clause, e.g. `~=2.31.0`. */
export interface VersionClause {
  readonly op: '~=' | '==' | '!=' | '<=' | '>=' | '<' | '>' | '===';
  readonly version: string;
}

/** A parsed requirement: `name[extras] clauses ; marker`. Plain JSON, so it can go in a resource spec. */
export interface Requirement {
  /** PEP 503 normalised: lowercase, runs of `-_.` as one `-`. */
  readonly name: string;
  readonly extras: readonly string[];
  readonly clauses: readonly VersionClause[];
  readonly marker?: string;
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/;
/** PEP 440 public version with an optional local label; `.*` allowed for prefix matching. */
const VERSION =
  /^(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/i;
const MARKER_VARIABLES = new Set([
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_release',
  'platform_system',
  'platform_version',
  'platform_machine',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
  // Legacy spellings pip still accepts.
  'os.name',
  'sys.platform',
  'platform.version',
  'platform.machine',
  'platform.python_implementation',
  'python_implementation',
]);

/** What Python's str.splitlines() splits on. */
const LINE_BREAK = /[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;

/** PEP 503: `Foo_Bar.baz` and `foo-bar-baz` are the same project. */
export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** True when `text` is a PEP 440 version (`1.2`, `2.0rc1`, `2.31.0+computecanada`). */
export function isVersion(text: string): boolean {
  return VERSION.test(text.trim());
}

/** The version without its local label: `2.31.0+computecanada` → `2.31.0`. */
export function publicVersion(version: string): string {
  const plus = version.indexOf('+');
  return plus < 0 ? version : version.slice(0, plus);
}

/** Checks a marker expression's shape: variables, quoted strings, comparison and boolean operators, parentheses. */
function markerProblem(marker: string): string | undefined {
  const token = /\s*(\(|\)|'[^']*'|"[^"]*"|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|[A-Za-z_][A-Za-z0-9_.]*)/y;
  const tokens: string[] = [];
  let at = 0;
  while (at < marker.length) {
    token.lastIndex = at;
    const m = token.exec(marker);
    if (!m)
      return marker.slice(at).trim() === '' ? undefined : `cannot read the marker at "${marker.slice(at).trim()}"`;
    tokens.push(m[1]!.replace(/\s+/g, ' '));
    at = token.lastIndex;
  }
  // marker := atom (('and'|'or') atom)*; atom := '(' marker ')' | value op value
  let i = 0;
  const value = (): boolean => {
    const t = tokens[i];
    if (t === undefined) return false;
    if (/^['"]/.test(t) || MARKER_VARIABLES.has(t)) {
      i += 1;
      return true;
    }
    return false;
  };
  const expr = (): string | undefined => {
    for (;;) {
      if (tokens[i] === '(') {
        i += 1;
        const inner = expr();
        if (inner) return inner;
        if (tokens[i] !== ')') return 'an opening parenthesis is not closed';
        i += 1;
      } else {
        const start = tokens[i];
        if (!value()) return `expected a marker variable or a quoted string, found ${start ?? 'the end'}`;
        const op = tokens[i];
        if (!op || !/^(===|==|!=|<=|>=|~=|<|>|not in|in)$/.test(op))
          return `expected a comparison after ${start}, found ${op ?? 'the end'}`;
        i += 1;
        if (!value()) return `expected a marker variable or a quoted string after ${op}`;
      }
      if (tokens[i] === 'and' || tokens[i] === 'or') {
        i += 1;
        continue;
      }
      return undefined;
    }
  };
  const problem = expr();
  if (problem) return problem;
  return i < tokens.length ? `unexpected "${tokens[i]}" in the marker` : undefined;
}

/** Parses one PEP 508 requirement, or says what is wrong with it. URL requirements (`name @ url`) are not pins and are refused. */
export function parseRequirement(text: string): Requirement | { error: string } {
  let rest = text.trim();
  // Requirements files hold one per line, and pip splits them as Python's str.splitlines() does: a break inside a marker would start a line of its own (an option such as --extra-index-url).
  if (LINE_BREAK.test(rest))
    return { error: 'must be one line (a line break would start another line of requirements.txt)' };
  const nameMatch = NAME.exec(rest);
  if (!nameMatch) return { error: 'must start with a project name' };
  const name = normaliseName(nameMatch[0]);
  rest = rest.slice(nameMatch[0].length).trim();
  let extras: string[] = [];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { error: 'the extras list is not closed with ]' };
    const inner = rest.slice(1, close).trim();
    extras = inner === '' ? [] : inner.split(',').map((e) => e.trim());
    const bad = extras.find((e) => !/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(e));
    if (bad !== undefined) return { error: `"${bad}" is not an extra name` };
    extras = [...new Set(extras.map(normaliseName))].sort();
    rest = rest.slice(close + 1).trim();
  }
  if (rest.startsWith('@'))
    return { error: 'a URL requirement is not a version pin; put the file in a wheelhouse and pin its version' };
  let marker: string | undefined;
  const semi = rest.indexOf(';');
  if (semi >= 0) {
    marker = rest.slice(semi + 1).trim();
    rest = rest.slice(0, semi).trim();
    if (marker === '') return { error: 'the marker after ; is empty' };
    const problem = markerProblem(marker);
    if (problem) return { error: problem };
  }
  if (rest.startsWith('(') && rest.endsWith(')')) rest = rest.slice(1, -1).trim();
  const clauses: VersionClause[] = [];
  if (rest !== '') {
    for (const part of rest.split(',')) {
      const m = /^\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;]+)\s*$/.exec(part);
      if (!m) return { error: `"${part.trim()}" is not a version specifier such as ==1.2.3 or ~=1.2` };
      const op = m[1] as VersionClause['op'];
      const version = m[2]!;
      const wildcard = version.endsWith('.*');
      if (op !== '===' && !isVersion(wildcard ? version.slice(0, -2) : version))
        return { error: `"${version}" is not a PEP 440 version` };
      if (wildcard && op !== '==' && op !== '!=')
        return { error: `.* is only allowed with == and !=, not ${op}${version}` };
      if (op === '~=' && version.split('.').length < 2)
        return { error: `~= needs at least two release numbers, as in ~=${version}.0` };
      clauses.push({ op, version });
    }
  }
  return {
    name,
    extras,
    clauses: [...clauses].sort((x, y) => (clauseText(x) < clauseText(y) ? -1 : 1)),
    ...(marker !== undefined ? { marker } : {}),
  };
}

/** True when a parse result is an error. */
export function isRequirementError(r: Requirement | { error: string }): r is { error: string } {
  return 'error' in r;
}

function clauseText(c: VersionClause): string {
  return `${c.op}${c.version}`;
}

/** True when the requirement pins a version: an exact `==` (no wildcard) or a tilde `~=`. */
export function isPinned(r: Requirement): boolean {
  return r.clauses.some((c) => (c.op === '==' && !c.version.endsWith('.*')) || c.op === '~=' || c.op === '===');
}

/** The canonical text of a requirement: normalised name, sorted extras and clauses, no spaces. */
export function formatRequirement(r: Requirement): string {
  const extras = r.extras.length > 0 ? `[${r.extras.join(',')}]` : '';
  return `${r.name}${extras}${r.clauses.map(clauseText).join(',')}${r.marker !== undefined ? `; ${r.marker}` : ''}`;
}

/** Requirements sorted by name, then text: the order files and identities use. */
export function sortRequirements(rs: readonly Requirement[]): Requirement[] {
  return [...rs].sort((x, y) =>
    x.name !== y.name ? (x.name < y.name ? -1 : 1) : formatRequirement(x) < formatRequirement(y) ? -1 : 1,
  );
}

// --- PEP 440 ordering -------------------------------------------------------

interface ParsedVersion {
  readonly epoch: number;
  readonly release: number[];
  /** [-3 dev-only, -2 a, -1 b, 0 rc, 1 final]… encoded as a sortable tuple. */
  readonly key: number[];
  readonly local?: string;
}

const PRE_RANK: Record<string, number> = { a: 0, alpha: 0, b: 1, beta: 1, c: 2, rc: 2, pre: 2, preview: 2 };

function parseVersion(text: string): ParsedVersion | undefined {
  const m = VERSION.exec(text.trim());
  if (!m) return undefined;
  const release = m[2]!.split('.').map(Number);
  while (release.length > 1 && release.at(-1) === 0) release.pop();
  const hasPre = m[3] !== undefined;
  const hasPost = m[5] !== undefined || m[6] !== undefined;
  const hasDev = m[8] !== undefined;
  // Sort key after the release: pre-release, post-release, dev-release (PEP 440 order).
  const pre = hasPre ? [PRE_RANK[m[3]!.toLowerCase()]!, Number(m[4] || 0)] : hasDev && !hasPost ? [-1, 0] : [3, 0];
  const post = hasPost ? [Number(m[5] ?? (m[7] || 0))] : [-1];
  const dev = hasDev ? [Number(m[9] || 0)] : [Number.MAX_SAFE_INTEGER];
  return {
    epoch: Number(m[1] ?? 0),
    release,
    key: [...pre, ...post, ...dev],
    ...(m[10] ? { local: m[10].toLowerCase() } : {}),
  };
}

function compareArrays(x: readonly number[], y: readonly number[]): number {
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Compares two PEP 440 versions, ignoring local labels. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(publicVersion(a));
  const y = parseVersion(publicVersion(b));
  if (!x || !y) return a === b ? 0 : a < b ? -1 : 1;
  return x.epoch !== y.epoch
    ? x.epoch < y.epoch
      ? -1
      : 1
    : compareArrays(x.release, y.release) || compareArrays(x.key, y.key);
}

function prefixMatches(installed: string, prefix: string): boolean {
  const have = publicVersion(installed).split(/[.+]/);
  const want = prefix.split('.');
  return want.every((part, i) => (have[i] ?? '0') === part || Number(have[i] ?? 0) === Number(part));
}

/**
 * True when `installed` satisfies one clause. A local label on the installed
 * version (`+computecanada`) is ignored unless the clause names one.
 */
export function satisfiesClause(installed: string, clause: VersionClause): boolean {
  const v = clause.version;
  const candidate = v.includes('+') ? installed : publicVersion(installed);
  switch (clause.op) {
    case '===':
      return installed === v;
    case '==':
      return v.endsWith('.*')
        ? prefixMatches(candidate, v.slice(0, -2))
        : compareVersions(candidate, v) === 0 && (!v.includes('+') || candidate === v);
    case '!=':
      return v.endsWith('.*') ? !prefixMatches(candidate, v.slice(0, -2)) : compareVersions(candidate, v) !== 0;
    case '<=':
      return compareVersions(candidate, v) <= 0;
    case '>=':
      return compareVersions(candidate, v) >= 0;
    case '<':
      return compareVersions(candidate, v) < 0;
    case '>':
      return compareVersions(candidate, v) > 0;
    case '~=': {
      // ~=X.Y.Z means >=X.Y.Z, ==X.Y.*
      const release = publicVersion(v)
        .split(/[^0-9.]/)[0]!
        .split('.');
      return compareVersions(candidate, v) >= 0 && prefixMatches(candidate, release.slice(0, -1).join('.'));
    }
  }
}

/** True when `installed` satisfies every clause of `r`. */
export function satisfies(installed: string, r: Requirement): boolean {
  return r.clauses.every((c) => satisfiesClause(installed, c));
}
