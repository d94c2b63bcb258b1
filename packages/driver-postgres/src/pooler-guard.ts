import { UnsupportedFeatureError, type PoolerMode } from '@dal/core';

/**
 * Behind a transaction-mode pooler each transaction may run on a different server session, and
 * the session is handed to other clients afterwards. State a statement leaves on the session
 * would then be lost to this client and leak to others: such statements are refused up front.
 */

/** String literals, quoted identifiers, comments and dollar-quoted bodies: their text is not SQL to inspect. */
const NOT_CODE = /\b[eE]'(?:[^'\\]|\\[^]|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g;

/** Session state one statement can leave behind, with the advice for each. */
const SESSION_STATE: ReadonlyArray<{ readonly pattern: RegExp; readonly what: string; readonly instead: string }> = [
  {
    // SET LOCAL, SET TRANSACTION and SET CONSTRAINTS end with the transaction; every other SET stays on the session.
    pattern: /^set\s+(?!local\b|transaction\b|constraints\b)/i,
    what: 'SET without LOCAL changes the server session',
    instead: 'use SET LOCAL inside a transaction',
  },
  {
    pattern: /\bset_config\s*\([^)]*,\s*false\s*\)/i,
    what: 'set_config(..., false) changes the server session',
    instead: 'pass true (transaction-local) inside a transaction',
  },
  {
    pattern: /^listen\b/i,
    what: 'LISTEN registers on a server session other clients get afterwards',
    instead: 'LISTEN on a direct connection to the server',
  },
  {
    pattern: /\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(/i,
    what: 'a session advisory lock stays on a server session other clients get afterwards',
    instead: 'use pg_advisory_xact_lock inside a transaction',
  },
  {
    pattern: /^prepare\b/i,
    what: 'PREPARE leaves a named statement on one server session',
    instead: 'run the statement with parameters instead',
  },
  {
    pattern: /^declare\b[^]*?\bwith\s+hold\b/i,
    what: 'a WITH HOLD cursor outlives its transaction on one server session',
    instead: 'use a cursor inside a transaction (db.stream does)',
  },
];

/** How the refusal names the pooler, so the message says what to change. */
const POOLER_NAMES: Readonly<Record<PoolerMode, string>> = {
  'pgbouncer-transaction': "PgBouncer in transaction mode (pooler: 'pgbouncer-transaction')",
};

/**
 * Refuse `sql` when it would leave session state behind a transaction-mode pooler.
 * @throws {UnsupportedFeatureError} (code DAL_UNSUPPORTED, feature 'sessionState') naming the pooler.
 */
export function rejectSessionState(sql: string, pooler: PoolerMode, alias: string): void {
  const code = sql.replace(NOT_CODE, ' ');
  for (const statement of code.split(';')) {
    const text = statement.trimStart();
    const found = SESSION_STATE.find(({ pattern }) => pattern.test(text));
    if (found !== undefined) {
      throw new UnsupportedFeatureError(
        `${alias}: ${found.what}, which is not possible behind ${POOLER_NAMES[pooler]}: ${found.instead}`,
        'sessionState',
        'postgres',
      );
    }
  }
}
