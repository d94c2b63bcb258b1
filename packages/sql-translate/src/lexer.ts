import type { DialectRules } from './dialect-rules.js';
import { TranslationError, type TranslationConstruct } from './translation-error.js';

/** One parameter placeholder as written in the portable SQL. */
export interface PlaceholderSite {
  /** 1-based parameter number it binds. */
  readonly index: number;
  /** 0-based character offset in the portable SQL. */
  readonly offset: number;
  /** The placeholder as written (`?`, `$2`, `?3`, `:name`). */
  readonly text: string;
}

/** The outcome of one lexer pass. */
export interface LexResult {
  readonly sql: string;
  /** -1 when named native placeholders make the count unknowable. */
  readonly parameterCount: number;
  readonly sites: readonly PlaceholderSite[];
}

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const DQUOTE = 34;
const HASH = 35;
const DOLLAR = 36;
const QUOTE = 39;
const RPAREN = 41;
const STAR = 42;
const DASH = 45;
const DOT = 46;
const SLASH = 47;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const COLON = 58;
const QUESTION = 63;
const AT = 64;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const UNDERSCORE = 95;
const BACKTICK = 96;

// Reserved words can never be subscripted, so `FROM[t]` is a bracket identifier, not `FROM[...]`.
const KEYWORDS = new Set([
  'ALL', 'AND', 'ANY', 'AS', 'ASC', 'BETWEEN', 'BY', 'CASE', 'CROSS', 'DELETE', 'DESC', 'DISTINCT',
  'ELSE', 'EXISTS', 'FROM', 'FULL', 'GROUP', 'HAVING', 'IN', 'INNER', 'INSERT', 'INTO', 'IS',
  'JOIN', 'LEFT', 'LIKE', 'LIMIT', 'NATURAL', 'NOT', 'OFFSET', 'ON', 'OR', 'ORDER', 'OUTER',
  'RETURNING', 'RIGHT', 'SELECT', 'SET', 'TABLE', 'THEN', 'UNION', 'UPDATE', 'USING', 'VALUES',
  'WHEN', 'WHERE', 'WITH',
]);

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

/** Letters, `_` and anything non-ASCII: what may start an identifier or a dollar-quote tag. */
function isIdentStart(c: number): boolean {
  return ((c | 0x20) >= 97 && (c | 0x20) <= 122) || c === UNDERSCORE || c >= 0x80;
}

function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR;
}

function isWhitespace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

function fail(rules: DialectRules, construct: TranslationConstruct, position: number, message: string): never {
  throw new TranslationError(`${message} at offset ${position} (${rules.name})`, {
    dialect: rules.name,
    construct,
    position,
  });
}

/** End (exclusive) of a quoted run starting at `start`, or -1 when it never closes. */
function skipQuoted(sql: string, start: number, quote: number, backslash: boolean): number {
  const n = sql.length;
  let j = start + 1;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (c === BACKSLASH && backslash) {
      j += 2;
    } else if (c === quote) {
      if (sql.charCodeAt(j + 1) !== quote) return j + 1;
      j += 2;
    } else {
      j++;
    }
  }
  return -1;
}

/** Index of the line break ending a line comment (or the end of the text). */
function lineEnd(sql: string, from: number): number {
  const n = sql.length;
  let j = from;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (c === LF || c === CR) return j;
    j++;
  }
  return n;
}

/** End (exclusive) of a block comment starting at `start`, or -1 when it never closes. */
function skipBlockComment(sql: string, start: number, nested: boolean): number {
  const n = sql.length;
  let depth = 1;
  let j = start + 2;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (c === STAR && sql.charCodeAt(j + 1) === SLASH) {
      j += 2;
      if (--depth === 0) return j;
    } else if (nested && c === SLASH && sql.charCodeAt(j + 1) === STAR) {
      depth++;
      j += 2;
    } else {
      j++;
    }
  }
  return -1;
}

/** End (exclusive) of an opening `$tag$` / `$$` at `start`, or -1 when there is none. */
function dollarTagEnd(sql: string, start: number): number {
  let j = start + 1;
  const first = sql.charCodeAt(j);
  if (first === DOLLAR) return j + 1;
  if (!isIdentStart(first)) return -1;
  j++;
  for (;;) {
    const c = sql.charCodeAt(j);
    if (c === DOLLAR) return j + 1;
    if (!(isIdentStart(c) || isDigit(c))) return -1;
    j++;
  }
}

function endOfWord(sql: string, from: number): number {
  let j = from;
  while (j < sql.length && isIdentChar(sql.charCodeAt(j))) j++;
  return j;
}

/**
 * True when the `[` at `i` belongs to an array subscript, constructor or type (`arr[1]`,
 * `ARRAY[1]`, `int[]`), judged from what precedes it.
 */
function isArrayContext(sql: string, i: number): boolean {
  if (i === 0) return false;
  const p = sql.charCodeAt(i - 1);
  if (p === RBRACKET || p === RPAREN || p === DQUOTE || p === BACKTICK) return true;
  if (isIdentChar(p)) {
    let k = i - 1;
    while (k >= 0 && isIdentChar(sql.charCodeAt(k))) k--;
    // After a dot the word is a column name (which may be a keyword), so it can be subscripted.
    if (k >= 0 && sql.charCodeAt(k) === DOT) return true;
    return !KEYWORDS.has(sql.slice(k + 1, i).toUpperCase());
  }
  let k = i - 1;
  while (k >= 0 && isWhitespace(sql.charCodeAt(k))) k--;
  // Check the last letter first so the common case (`= [col]`) allocates nothing.
  return (
    k >= 4 &&
    (sql.charCodeAt(k) | 0x20) === 121 &&
    sql.slice(k - 4, k + 1).toUpperCase() === 'ARRAY' &&
    (k < 5 || !isIdentChar(sql.charCodeAt(k - 5)))
  );
}

function hasIdentStart(sql: string, from: number, to: number): boolean {
  for (let j = from; j < to; j++) if (isIdentStart(sql.charCodeAt(j))) return true;
  return false;
}

/**
 * Translates portable SQL to the target's native SQL in one pass, counting placeholders.
 * @throws {TranslationError} on an unterminated literal, comment, bracket or dollar quote,
 * on `?` mixed with native placeholders, and on an ambiguous `?` followed by a digit.
 */
export function lex(sql: string, rules: DialectRules): LexResult {
  const n = sql.length;
  const quote = rules.quote;
  // On MySQL "..." is a string, so backslashes escape in it too.
  const doubleQuoteBackslash = rules.backslashEscapes && quote !== '"';
  const sites: PlaceholderSite[] = [];
  let out = '';
  let last = 0;
  let positional = 0;
  let firstPositional = -1;
  let firstNative: PlaceholderSite | undefined;
  let nativeMax = 0;
  let nativeNamed = false;
  let arrayDepth = 0;
  let i = 0;

  const native = (start: number, end: number, index: number): void => {
    const site = { index, offset: start, text: sql.slice(start, end) };
    if (firstPositional >= 0) {
      fail(rules, 'placeholder', start, `Native placeholder ${site.text} mixed with \`?\` (first \`?\` at offset ${firstPositional})`);
    }
    if (index === 0) fail(rules, 'placeholder', start, `Native placeholder ${site.text} is invalid: numbering starts at 1`);
    if (index < 0) nativeNamed = true;
    else if (index > nativeMax) nativeMax = index;
    firstNative ??= site;
    sites.push(site);
  };

  while (i < n) {
    const c = sql.charCodeAt(i);
    switch (c) {
      case QUOTE: {
        const escaped =
          rules.backslashEscapes ||
          (rules.escapeStrings && i > 0 && (sql.charCodeAt(i - 1) | 0x20) === 101 && (i < 2 || !isIdentChar(sql.charCodeAt(i - 2))));
        const end = skipQuoted(sql, i, QUOTE, escaped);
        if (end < 0) fail(rules, 'string literal', i, 'Unterminated string literal');
        i = end;
        break;
      }
      case DQUOTE: {
        const end = skipQuoted(sql, i, DQUOTE, doubleQuoteBackslash);
        if (end < 0) fail(rules, 'quoted identifier', i, 'Unterminated "..." quoted identifier or string');
        i = end;
        break;
      }
      case BACKTICK: {
        const end = skipQuoted(sql, i, BACKTICK, false);
        if (end < 0) fail(rules, 'quoted identifier', i, 'Unterminated `...` quoted identifier');
        i = end;
        break;
      }
      case DASH: {
        const next = sql.charCodeAt(i + 1);
        if (next === DASH && (!rules.dashCommentNeedsSpace || i + 2 >= n || sql.charCodeAt(i + 2) <= SPACE)) {
          i = lineEnd(sql, i + 2);
        } else {
          i++;
        }
        break;
      }
      case HASH:
        i = rules.hashComments ? lineEnd(sql, i + 1) : i + 1;
        break;
      case SLASH: {
        if (sql.charCodeAt(i + 1) === STAR) {
          const end = skipBlockComment(sql, i, rules.nestedComments);
          if (end < 0) fail(rules, 'block comment', i, 'Unterminated /* block comment');
          i = end;
        } else {
          i++;
        }
        break;
      }
      case DOLLAR: {
        if (i > 0 && isIdentChar(sql.charCodeAt(i - 1))) {
          i++;
          break;
        }
        const next = sql.charCodeAt(i + 1);
        if (rules.dollarPlaceholders && isDigit(next)) {
          let j = i + 2;
          while (isDigit(sql.charCodeAt(j))) j++;
          native(i, j, Number(sql.slice(i + 1, j)));
          i = j;
          break;
        }
        if (rules.dollarQuotes) {
          const tagEnd = dollarTagEnd(sql, i);
          if (tagEnd > 0) {
            const close = sql.indexOf(sql.slice(i, tagEnd), tagEnd);
            if (close < 0) fail(rules, 'dollar quote', i, `Unterminated dollar-quoted body ${sql.slice(i, tagEnd)}`);
            i = close + (tagEnd - i);
            break;
          }
        }
        if (rules.sqlitePlaceholders && isIdentChar(next) && next !== DOLLAR) {
          const j = endOfWord(sql, i + 1);
          native(i, j, -1);
          i = j;
          break;
        }
        i++;
        break;
      }
      case COLON:
        if (sql.charCodeAt(i + 1) === COLON) {
          i += 2; // a `::` cast
          break;
        }
      // falls through: `:name`, like `@name`, is a SQLite named placeholder
      case AT: {
        const next = sql.charCodeAt(i + 1);
        if (rules.sqlitePlaceholders && isIdentChar(next) && next !== DOLLAR) {
          const j = endOfWord(sql, i + 1);
          native(i, j, -1);
          i = j;
        } else {
          i++;
        }
        break;
      }
      case QUESTION: {
        const next = sql.charCodeAt(i + 1);
        if (next === QUESTION) {
          out += sql.slice(last, i + 1);
          i += 2;
          last = i;
          break;
        }
        if (isDigit(next)) {
          let j = i + 2;
          while (isDigit(sql.charCodeAt(j))) j++;
          if (!rules.sqlitePlaceholders) {
            fail(rules, 'placeholder', i, `Ambiguous placeholder ${sql.slice(i, j)}: put a space between \`?\` and the digit`);
          }
          native(i, j, Number(sql.slice(i + 1, j)));
          i = j;
          break;
        }
        if (firstNative !== undefined) {
          fail(rules, 'placeholder', i, `\`?\` mixed with native placeholder ${firstNative.text} (at offset ${firstNative.offset})`);
        }
        positional++;
        if (firstPositional < 0) firstPositional = i;
        sites.push({ index: positional, offset: i, text: '?' });
        if (rules.placeholder !== null) {
          out += sql.slice(last, i) + rules.placeholder(positional);
          last = i + 1;
        }
        i++;
        break;
      }
      case LBRACKET: {
        if (arrayDepth > 0 || isArrayContext(sql, i)) {
          arrayDepth++;
          i++;
          break;
        }
        let close = -1;
        let escaped = false;
        for (let from = i + 1; ; ) {
          const k = sql.indexOf(']', from);
          if (k < 0) break;
          if (sql.charCodeAt(k + 1) === RBRACKET) {
            escaped = true;
            from = k + 2;
          } else {
            close = k;
            break;
          }
        }
        if (close < 0) fail(rules, 'bracket identifier', i, 'Unterminated [bracket identifier]');
        // `[1]`, `[1:2]`, `[]`, `[$1]`: no letter inside, so array syntax after all.
        if (!hasIdentStart(sql, i + 1, close)) {
          arrayDepth++;
          i++;
          break;
        }
        let name = sql.slice(i + 1, close);
        if (escaped) name = name.replaceAll(']]', ']');
        out += sql.slice(last, i) + quote + name.replaceAll(quote, quote + quote) + quote;
        i = close + 1;
        last = i;
        break;
      }
      case RBRACKET:
        if (arrayDepth > 0) arrayDepth--;
        i++;
        break;
      default:
        i++;
    }
  }

  return {
    sql: last === 0 ? sql : out + sql.slice(last),
    parameterCount: nativeNamed ? -1 : positional + nativeMax,
    sites,
  };
}
