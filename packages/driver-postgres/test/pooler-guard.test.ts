import { UnsupportedFeatureError } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { rejectSessionState } from '../src/pooler-guard.js';

// Which statements leave session state behind a transaction-mode pooler (issue #18 item 6);
// the refusals themselves run against a real PgBouncer in pgbouncer.test.ts.
const check = (sql: string) => () => rejectSessionState(sql, 'pgbouncer-transaction', 'main');

describe('rejectSessionState', () => {
  it.each([
    "SET work_mem = '8MB'",
    'set session statement_timeout to 0',
    'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
    'SET ROLE app',
    'BEGIN; SET search_path = app; COMMIT',
    '-- leading comment\n  /* and another */ SET TIME ZONE UTC',
    "SELECT set_config('search_path', 'app', false)",
    'LISTEN jobs',
    'SELECT pg_advisory_lock(1)',
    'SELECT pg_try_advisory_lock_shared(1, 2)',
    'PREPARE q AS SELECT 1',
    'DECLARE c CURSOR WITH HOLD FOR SELECT 1',
  ])('refuses %s, naming the pooler', (sql) => {
    expect(check(sql)).toThrow(UnsupportedFeatureError);
    expect(check(sql)).toThrow("PgBouncer in transaction mode (pooler: 'pgbouncer-transaction')");
  });

  it.each([
    "SET LOCAL work_mem = '8MB'",
    'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
    'SET CONSTRAINTS ALL DEFERRED',
    'UPDATE t SET a = 1 WHERE b = $1',
    'INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = excluded.a',
    "SELECT set_config('lock_timeout', '1s', true)",
    'SELECT pg_advisory_xact_lock(1)',
    'SELECT pg_advisory_unlock(1)',
    "SELECT 'SET x = 1; LISTEN y' AS s",
    "SELECT E'it\\'s; SET x = 1' AS s",
    'SELECT "SET" FROM t',
    'SELECT $$ SET x = 1; $$ AS body',
    'SELECT $fn$ LISTEN y $fn$ AS body',
    'SELECT 1 -- ; SET x = 1',
    'DECLARE dal_cursor_1 NO SCROLL CURSOR FOR SELECT 1',
  ])('lets %s through', (sql) => {
    expect(check(sql)).not.toThrow();
  });
});
