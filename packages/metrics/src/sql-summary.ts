/**
 * What tracing and the dashboard show of a statement: its text with literals replaced by `?`,
 * its operation (first keyword) and, for a statement on one table, that table. Parameter values
 * never reach here (core hands over the SQL with its placeholders); literals written into the SQL
 * may be values too (`WHERE email = 'a@b.c'`), so they are redacted, as the OpenTelemetry
 * database conventions ask of query text.
 */

/**
 * One token of interest per match: quoted string, quoted identifier, comment, placeholder,
 * number, word. Whatever is between matches (spaces, operators) is kept as it is.
 * Strings: '...' with '' or \' inside (MySQL), E'...' and X'...' included; PostgreSQL dollar quotes.
 */
const TOKEN =
  /(?<str>(?:[EeXxBbNn])?'(?:[^'\\]|\\.|'')*'?|\$(?<tag>[A-Za-z_]*)\$[\s\S]*?\$\k<tag>\$)|(?<ident>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)|(?<comment>--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|(?<param>\$\d+|\?|:[A-Za-z_]\w*|@[A-Za-z_]\w*)|(?<num>\b(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)\b)|(?<word>[A-Za-z_][\w$]*)/g;

/**
 * `sql` with every string and number literal replaced by `?` and comments dropped; identifiers,
 * keywords and placeholders are kept.
 *
 * ```ts
 * redactSql("SELECT * FROM t WHERE a = 'x' AND b > 10 AND c = $1"); // 'SELECT * FROM t WHERE a = ? AND b > ? AND c = $1'
 * ```
 */
export function redactSql(sql: string): string {
  return sql.replace(TOKEN, (match, ...rest: unknown[]) => {
    const groups = rest[rest.length - 1] as Record<string, string | undefined>;
    if (groups['str'] !== undefined || groups['num'] !== undefined) return '?';
    if (groups['comment'] !== undefined) return '';
    return match;
  });
}

/** Statements whose table is named right after these words (`UPDATE t`, `INSERT INTO t`, `... FROM t`). */
const TABLE_AFTER: Readonly<Record<string, readonly string[]>> = {
  SELECT: ['FROM'],
  DELETE: ['FROM'],
  INSERT: ['INTO'],
  REPLACE: ['INTO'],
  UPDATE: ['UPDATE'],
};

/** The operation and, when the statement names exactly one table in the usual place, that table. */
export interface SqlSummary {
  /** First keyword, upper case (`SELECT`, `INSERT`, `BEGIN`, ...); undefined for an empty statement. */
  operation: string | undefined;
  /** `db.collection.name`: the one table, unquoted; undefined when unknown, joined or a subquery. */
  collection: string | undefined;
}

/**
 * Operation and table of one statement, read from its tokens (no full parse: a statement whose
 * shape is not the usual one gets no table rather than a wrong one).
 *
 * ```ts
 * summarizeSql('SELECT "name" FROM "users" WHERE "id" = $1'); // { operation: 'SELECT', collection: 'users' }
 * ```
 */
export function summarizeSql(sql: string): SqlSummary {
  const tokens: Array<{ kind: 'word' | 'ident' | 'other'; text: string; then: string }> = [];
  for (const m of sql.matchAll(TOKEN)) {
    const g = m.groups!;
    if (g['comment'] !== undefined) continue;
    // `then`: the first character after the token that is not a space ('.' of schema.table, ',' of a list).
    const then = sql.slice(m.index + m[0].length).trimStart().charAt(0);
    if (g['word'] !== undefined) tokens.push({ kind: 'word', text: g['word'], then });
    else if (g['ident'] !== undefined) tokens.push({ kind: 'ident', text: unquote(g['ident']), then });
    else tokens.push({ kind: 'other', text: m[0], then });
  }
  const first = tokens[0];
  if (first === undefined || first.kind !== 'word') return { operation: undefined, collection: undefined };
  const operation = first.text.toUpperCase();
  const after = TABLE_AFTER[operation];
  if (after === undefined) return { operation, collection: undefined };
  const words = tokens.map((t) => (t.kind === 'word' ? t.text.toUpperCase() : ''));
  // Several tables (a join, a subquery's second FROM): no single collection.
  if (words.includes('JOIN') || words.filter((w) => w === 'FROM').length > 1) return { operation, collection: undefined };
  const at = operation === 'UPDATE' ? 0 : words.findIndex((w, i) => i > 0 && after.includes(w));
  if (at < 0) return { operation, collection: undefined };
  const parts: string[] = [];
  for (let i = at + 1; ; i += 1) {
    const token = tokens[i];
    if (token === undefined || token.kind === 'other' || (token.kind === 'word' && NOT_A_TABLE.has(token.text.toUpperCase()))) return { operation, collection: undefined };
    parts.push(token.text);
    if (token.then === '.') continue; // schema.table
    if (token.then === ',') return { operation, collection: undefined }; // FROM a, b
    return { operation, collection: parts.join('.') };
  }
}

/** Words that can stand where a table name would but are not one. */
const NOT_A_TABLE = new Set(['SELECT', 'WHERE', 'SET', 'VALUES', 'LATERAL', 'ONLY', 'ORDER', 'GROUP', 'LIMIT']);

function unquote(ident: string): string {
  const open = ident.charAt(0);
  const close = open === '[' ? ']' : open;
  const inner = ident.endsWith(close) && ident.length > 1 ? ident.slice(1, -1) : ident.slice(1);
  return open === '[' ? inner : inner.replaceAll(close + close, close);
}
