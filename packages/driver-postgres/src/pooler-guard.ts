import { UnsupportedFeatureError, type PoolerMode } from '@dal/core';

/**
 * Behind a transaction-mode pooler each transaction may run on a different server session, and
 * the session is handed to other clients afterwards. State a statement leaves on the session
 * would then be lost to this client and leak to others: such statements are refused up front.
 */

/** String literals, quoted identifiers, comments and dollar-quoted bodies: their text is not SQL to inspect. */
const NOT_CODE = /\b[eE]'(?:[^'\\]|\\[^]|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g;

/** A kind of session state: its short name, what it does to the session and what to do instead. */
export interface SessionState {
  readonly label: string;
  readonly what: string;
  readonly instead: string;
}

/** Session state one statement can leave behind, with the advice for each. */
const SESSION_STATE: ReadonlyArray<SessionState & { readonly pattern: RegExp }> = [
  {
    // SET LOCAL, SET TRANSACTION and SET CONSTRAINTS end with the transaction; every other SET stays on the session.
    pattern: /^set\s+(?!local\b|transaction\b|constraints\b)/i,
    label: 'SET without LOCAL',
    what: 'SET without LOCAL changes the server session',
    instead: 'use SET LOCAL inside a transaction',
  },
  {
    pattern: /\bset_config\s*\([^)]*,\s*false\s*\)/i,
    label: 'set_config(..., false)',
    what: 'set_config(..., false) changes the server session',
    instead: 'pass true (transaction-local) inside a transaction',
  },
  {
    pattern: /^listen\b/i,
    label: 'LISTEN',
    what: 'LISTEN registers on a server session other clients get afterwards',
    instead: 'LISTEN on a direct connection to the server',
  },
  {
    pattern: /\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(/i,
    label: 'a session advisory lock',
    what: 'a session advisory lock stays on a server session other clients get afterwards',
    instead: 'use pg_advisory_xact_lock inside a transaction',
  },
  {
    pattern: /^prepare\b/i,
    label: 'PREPARE',
    what: 'PREPARE leaves a named statement on one server session',
    instead: 'run the statement with parameters instead',
  },
  {
    pattern: /^declare\b[^]*?\bwith\s+hold\b/i,
    label: 'a WITH HOLD cursor',
    what: 'a WITH HOLD cursor outlives its transaction on one server session',
    instead: 'use a cursor inside a transaction (db.stream does)',
  },
];

/** A word every pattern of SESSION_STATE needs. */
const MAYBE_SESSION_STATE = /\b(?:set|listen|prepare|declare)\b|advisory_lock|set_config/i;

/** The config change that makes @dal safe behind a transaction-mode PgBouncer, for messages. */
export const POOLER_ADVICE = "behind PgBouncer in transaction mode, set pooler: 'pgbouncer-transaction' in the DatabaseConfig";

/** How the refusal names the pooler, so the message says what to change. */
const POOLER_NAMES: Readonly<Record<PoolerMode, string>> = {
  'pgbouncer-transaction': "PgBouncer in transaction mode (pooler: 'pgbouncer-transaction')",
};

/** What `sql` would leave on the server session (a description), or undefined when nothing. */
export function sessionStateOf(sql: string): SessionState | undefined {
  // Runs for every statement: most contain none of these words and skip the masking below.
  if (!MAYBE_SESSION_STATE.test(sql)) return undefined;
  const code = sql.replace(NOT_CODE, ' ');
  for (const statement of code.split(';')) {
    const text = statement.trimStart();
    const found = SESSION_STATE.find(({ pattern }) => pattern.test(text));
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Refuse `sql` when it would leave session state behind a transaction-mode pooler.
 * @throws {UnsupportedFeatureError} (code DAL_UNSUPPORTED, feature 'sessionState') naming the pooler.
 */
export function rejectSessionState(sql: string, pooler: PoolerMode, alias: string): void {
  const found = sessionStateOf(sql);
  if (found !== undefined) {
    throw new UnsupportedFeatureError(`${alias}: ${found.what}, which is not possible behind ${POOLER_NAMES[pooler]}: ${found.instead}`, 'sessionState', 'postgres');
  }
}

/**
 * Without `pooler`: session state set earlier on this connection was left on server session
 * `setOn`, but the connection now talks to `now`. Only a transaction-mode pooler moves a client
 * between server sessions, so the state was lost here and leaked to whoever got that session.
 */
export function sessionStateLost(alias: string, setBy: SessionState, setOn: number, now: number): UnsupportedFeatureError {
  return new UnsupportedFeatureError(
    `${alias}: an earlier statement on this connection (${setBy.label}) left state on server session ${setOn}, but the connection is now on session ${now}: ` +
      `a pooler in transaction mode moved it, so that state is lost here and leaked to other clients; ${POOLER_ADVICE} (it refuses such statements up front)`,
    'sessionState',
    'postgres',
  );
}
