/**
 * A small bash lexer for the fuzz suite: enough of bash's quoting rules to say,
 * without spawning bash, which characters of a rendered script bash could
 * execute or expand, and what a quoted word decodes to. `bash -n` and real
 * runs on a sample of the scripts check that it agrees with bash.
 */

type Context = 'code' | 'dq' | 'cmdsub' | 'param' | 'backtick';

/** One nesting level: what it is, its open parentheses, and whether a word is open in it and may start here. */
interface Frame {
  readonly ctx: Context;
  depth: number;
  inWord: boolean;
  wordStart: boolean;
}

const frame = (ctx: Context): Frame => ({ ctx, depth: 0, inWord: false, wordStart: true });

const OPERATOR = new Set([';', '&', '|', '(', ')', '<', '>']);
const BLANK = new Set([' ', '\t']);

/** What the lexer learned about one script. */
export interface Lexed {
  /** 1 where bash could execute or expand the character: outside quotes, comments and quoted heredocs. */
  readonly live: Uint8Array;
  /** The script's structure with every word as `W` and comments dropped: equal for two renderings that differ only in quoted values. */
  readonly skeleton: string;
  /** Why the script does not close cleanly (an open quote, substitution or heredoc), if it does not. */
  readonly unbalanced?: string;
}

/** Lexes `script` as bash reads it (the subset rendered scripts use). */
export function lex(script: string): Lexed {
  const live = new Uint8Array(script.length);
  const tokens: string[] = [];
  const stack: Frame[] = [frame('code')];
  const heredocs: Array<{ delimiter: string; quoted: boolean; strip: boolean }> = [];
  const top = () => stack[stack.length - 1]!;
  const endWord = () => {
    if (top().inWord) tokens.push('W');
    top().inWord = false;
  };
  let i = 0;
  while (i < script.length) {
    const c = script[i]!;
    const f = top();
    const ctx = f.ctx;
    if (ctx === 'dq') {
      if (c === '\\' && '$`"\\\n'.includes(script[i + 1] ?? '')) {
        i += 2;
      } else if (c === '"') {
        stack.pop();
        i += 1;
      } else if (c === '$' || c === '`') {
        i = openExpansion(script, i, stack, live, tokens);
      } else {
        i += 1;
      }
      continue;
    }
    // code, cmdsub, param, backtick: bash syntax.
    if (c === '\n') {
      endWord();
      live[i] = 1;
      // Comment lines only add newlines: runs of them count as one.
      if (tokens[tokens.length - 1] !== 'NL') tokens.push('NL');
      f.wordStart = true;
      i += 1;
      if (heredocs.length > 0 && ctx === 'code') i = skipHeredocs(script, i, heredocs, live, tokens);
      continue;
    }
    if (BLANK.has(c)) {
      endWord();
      f.wordStart = true;
      i += 1;
      continue;
    }
    if (c === '#' && f.wordStart && !f.inWord) {
      while (i < script.length && script[i] !== '\n') i += 1;
      continue;
    }
    f.wordStart = false;
    if ((ctx === 'param' && c === '}') || (ctx === 'backtick' && c === '`')) {
      endWord();
      tokens.push(c);
      live[i] = 1;
      stack.pop();
      i += 1;
      continue;
    }
    if (ctx === 'cmdsub' && (c === '(' || c === ')')) {
      endWord();
      live[i] = 1;
      if (c === '(') f.depth += 1;
      else if (f.depth > 0) f.depth -= 1;
      else stack.pop();
      tokens.push(c);
      i += 1;
      continue;
    }
    if (c === '<' && script.startsWith('<<', i) && !script.startsWith('<<<', i)) {
      endWord();
      live[i] = live[i + 1] = 1;
      tokens.push('<<');
      i = readHeredocStart(script, i + 2, heredocs, tokens);
      continue;
    }
    if (OPERATOR.has(c)) {
      endWord();
      live[i] = 1;
      tokens.push(c);
      f.wordStart = true;
      i += 1;
      continue;
    }
    f.inWord = true;
    if (c === '\\') {
      // An escaped character is literal; an escaped newline joins lines.
      i += 2;
    } else if (c === "'") {
      const close = script.indexOf("'", i + 1);
      i = close < 0 ? script.length + 1 : close + 1;
      if (close < 0) return { live, skeleton: tokens.join(' '), unbalanced: 'an open single quote' };
    } else if (c === '$' && script[i + 1] === "'") {
      i = skipAnsiC(script, i + 2);
      if (i > script.length) return { live, skeleton: tokens.join(' '), unbalanced: "an open $'…' quote" };
    } else if (c === '"') {
      stack.push(frame('dq'));
      i += 1;
    } else if (c === '$' || c === '`') {
      i = openExpansion(script, i, stack, live, tokens);
    } else {
      live[i] = 1;
      i += 1;
    }
  }
  endWord();
  if (stack.length > 1) return { live, skeleton: tokens.join(' '), unbalanced: `an open ${top().ctx}` };
  if (heredocs.length > 0)
    return { live, skeleton: tokens.join(' '), unbalanced: `a heredoc without its ${heredocs[0]!.delimiter} line` };
  return { live, skeleton: tokens.join(' ') };
}

/** At a `$` or backtick: opens `$(…)`, `${…}` or `` `…` ``, or marks a plain `$NAME` expansion live. */
function openExpansion(script: string, i: number, stack: Frame[], live: Uint8Array, tokens: string[]): number {
  const c = script[i]!;
  live[i] = 1;
  if (c === '`') {
    stack.push(frame('backtick'));
    tokens.push('`');
    return i + 1;
  }
  const next = script[i + 1] ?? '';
  if (next === '(') {
    live[i + 1] = 1;
    stack.push(frame('cmdsub'));
    tokens.push('$(');
    return i + 2;
  }
  if (next === '{') {
    live[i + 1] = 1;
    stack.push(frame('param'));
    tokens.push('${');
    return i + 2;
  }
  const name = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9#?$!@*-])/.exec(script.slice(i + 1, i + 65));
  if (!name) return i + 1;
  tokens.push('$');
  for (let k = 1; k <= name[0].length; k += 1) live[i + k] = 1;
  return i + 1 + name[0].length;
}

function skipAnsiC(script: string, i: number): number {
  while (i < script.length) {
    if (script[i] === '\\') i += 2;
    else if (script[i] === "'") return i + 1;
    else i += 1;
  }
  return script.length + 1;
}

function readHeredocStart(
  script: string,
  i: number,
  heredocs: Array<{ delimiter: string; quoted: boolean; strip: boolean }>,
  tokens: string[],
): number {
  const strip = script[i] === '-';
  if (strip) i += 1;
  while (BLANK.has(script[i] ?? '')) i += 1;
  const m = /^(?:'([^'\n]*)'|"([^"\n]*)"|\\?([A-Za-z0-9_]+))/.exec(script.slice(i, i + 200));
  if (!m) return i;
  heredocs.push({
    delimiter: m[1] ?? m[2] ?? m[3]!,
    quoted: m[1] !== undefined || m[2] !== undefined || m[0].startsWith('\\'),
    strip,
  });
  tokens.push('W');
  return i + m[0].length;
}

/** Skips the bodies of pending heredocs, starting at the line after their `<<`; unquoted bodies expand, so their `$` is live. */
function skipHeredocs(
  script: string,
  i: number,
  heredocs: Array<{ delimiter: string; quoted: boolean; strip: boolean }>,
  live: Uint8Array,
  tokens: string[],
): number {
  while (heredocs.length > 0) {
    const doc = heredocs[0]!;
    for (;;) {
      if (i >= script.length) return i;
      const end = script.indexOf('\n', i);
      const lineEnd = end < 0 ? script.length : end;
      const line = script.slice(i, lineEnd);
      if ((doc.strip ? line.replace(/^\t+/, '') : line) === doc.delimiter) {
        heredocs.shift();
        tokens.push('HEREDOC');
        i = lineEnd + 1;
        break;
      }
      if (!doc.quoted) for (let k = i; k < lineEnd; k += 1) if (script[k] === '$' || script[k] === '`') live[k] = 1;
      i = lineEnd + 1;
    }
  }
  return i;
}

/** The end of the shell word that starts at `start` (quotes and `${…}` included), as bash splits words. */
export function wordEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const c = text[i]!;
    if (BLANK.has(c) || c === '\n' || OPERATOR.has(c)) return i;
    if (c === '\\') i += 2;
    else if (c === "'") i = text.indexOf("'", i + 1) < 0 ? text.length : text.indexOf("'", i + 1) + 1;
    else if (c === '$' && text[i + 1] === "'") i = skipAnsiC(text, i + 2);
    else if (c === '"') {
      i += 1;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i += 1;
    } else i += 1;
  }
  return Math.min(i, text.length);
}

const ANSI_ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  e: '\x1b',
  f: '\f',
  v: '\v',
};

/**
 * What bash makes of one word, quote removal done: `'…'` and `$'…'` literal,
 * `"…"` with `${NAME}` expanded from `env`. Throws on anything whose value
 * bash would compute (a command substitution, an unquoted `$`, a glob or a
 * tilde): a literal value must never reach a script that way.
 */
export function decodeWord(raw: string, env: Readonly<Record<string, string>>): string {
  let out = '';
  let i = 0;
  const expand = (text: string): string => {
    const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(text);
    if (!m) throw new Error(`an expansion other than \${NAME}: ${JSON.stringify(text.slice(0, 20))}`);
    const value = Object.hasOwn(env, m[1]!) ? env[m[1]!] : undefined;
    if (value === undefined) throw new Error(`an expansion of ${m[1]}, which the probe does not set`);
    out += value;
    return m[0];
  };
  if (raw.startsWith('~')) throw new Error('a bare ~ (tilde expansion)');
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === "'") {
      const close = raw.indexOf("'", i + 1);
      if (close < 0) throw new Error('an open single quote');
      out += raw.slice(i + 1, close);
      i = close + 1;
    } else if (c === '$' && raw[i + 1] === "'") {
      i += 2;
      while (raw[i] !== "'") {
        if (i >= raw.length) throw new Error("an open $'…' quote");
        if (raw[i] === '\\') {
          const e = raw[i + 1] ?? '';
          const hex = /^x([0-9A-Fa-f]{1,2})/.exec(raw.slice(i + 1, i + 4));
          if (hex) {
            out += String.fromCharCode(parseInt(hex[1]!, 16));
            i += 2 + hex[1]!.length;
            continue;
          }
          if (!(e in ANSI_ESCAPES)) throw new Error(`an unknown $'…' escape \\${e}`);
          out += ANSI_ESCAPES[e];
          i += 2;
        } else {
          out += raw[i];
          i += 1;
        }
      }
      i += 1;
    } else if (c === '"') {
      i += 1;
      while (raw[i] !== '"') {
        if (i >= raw.length) throw new Error('an open double quote');
        const d = raw[i]!;
        if (d === '\\' && '$`"\\\n'.includes(raw[i + 1] ?? '')) {
          if (raw[i + 1] !== '\n') out += raw[i + 1];
          i += 2;
        } else if (d === '$') {
          i += expand(raw.slice(i)).length;
        } else if (d === '`') {
          throw new Error('a backquote substitution inside double quotes');
        } else {
          out += d;
          i += 1;
        }
      }
      i += 1;
    } else if (c === '\\') {
      out += raw[i + 1] ?? '';
      i += 2;
    } else if (c === '$') {
      i += expand(raw.slice(i)).length;
    } else if ('`*?[{'.includes(c)) {
      throw new Error(`an unquoted ${c}`);
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}
