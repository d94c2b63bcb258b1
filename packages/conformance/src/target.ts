import type { Connection, Database, DatabaseConfigOptions, DatabaseOptions } from '@dal/core';

/**
 * What a backend supplies to run the shared suite. Everything else is written once in
 * @dal/conformance and is the same for every backend.
 */
export interface ConformanceTarget {
  /** Backend name, used in test titles and table names ('postgres', 'mysql', 'sqlite', 'oracle'). */
  readonly name: string;
  /** The name DatabaseFactory knows the backend by, when `name` is another (e.g. one run per driver mode). Default: `name`. */
  readonly backend?: string;
  /**
   * A new Database for the suite. `overrides` changes settings (pool sizes, timeouts, a wrong
   * password, another port); each distinct set of settings gets its own pool. `options` (a logger)
   * go to the Database as they are.
   */
  createDatabase(overrides?: Partial<DatabaseConfigOptions>, options?: DatabaseOptions): Database;
  /** Native column types for the portable DDL the suite writes. */
  readonly types: {
    readonly int: string;
    readonly bigint: string;
    readonly text: string;
    readonly varchar: string;
    readonly decimal: string;
    readonly timestamp: string;
    readonly boolean: string;
    /** Optional: a binary column, e.g. 'BYTEA' (checks that bytes come back as Buffers on every path). */
    readonly bytes?: string;
    /** Optional: an auto-increment primary key column, e.g. 'SERIAL PRIMARY KEY' (checks `insertId`). */
    readonly autoIncrementKey?: string;
  };
  /**
   * A statement that keeps the server busy for about `seconds` seconds. It must contain
   * `marker` (in a comment) so the suite can look for it on the server.
   */
  slowStatement(seconds: number, marker: string): string;
  /** True while a statement containing `marker` still runs on the server (omit when there is no server). */
  isRunningOnServer?(db: Database, marker: string): Promise<boolean>;
  /** The server's id for the session behind `conn` (omit when there is no server). */
  sessionId?(conn: Connection): Promise<string | number>;
  /**
   * True while session `id` is inside a statement or a transaction on the server (a running query,
   * a result still being sent, an open cursor); false once it is idle. Omit when there is no server.
   */
  sessionBusy?(db: Database, id: string | number): Promise<boolean>;
  /** Terminate session `id` from another connection, as an administrator would. */
  killSession?(db: Database, id: string | number): Promise<void>;
  /** Whether the backend talks to a server over TCP (enables the silent-server tests). */
  readonly networked: boolean;
  /**
   * For the TLS variant (`describeTlsConformance`): `createDatabase()` then connects with
   * `tls: { mode: 'verify-full', ca }` to a server that refuses plaintext. Fields are read when
   * the tests run, so a test file may fill them in `beforeAll` after starting its server.
   */
  readonly tls?: ConformanceTlsTarget;
  /**
   * Tests this backend does not run, by exact title, each with the reason. Never silent:
   * skipped tests show in the report with their reason.
   */
  readonly skip?: Readonly<Record<string, string>>;
}

/** What the TLS section needs besides a TLS-only server behind `createDatabase()`. */
export interface ConformanceTlsTarget {
  /** Asked from the server side: is the session behind `conn` (async or sync) encrypted? */
  sessionEncrypted(conn: StatementRunner): Promise<boolean>;
  /** The TLS-only server behind `createDatabase()`; called when the tests run (start it in `beforeAll`). */
  server(): TlsServerUnderTest;
  /** Overrides that point `createDatabase` at a server of this backend that has no TLS at all. */
  readonly withoutTls: Partial<DatabaseConfigOptions>;
}

/** What `sessionEncrypted` needs of a `Connection` or a `SyncConnection`: await the result either way. */
export interface StatementRunner {
  execute<R = Record<string, unknown>>(sql: string): R[] | Promise<R[]>;
}

/** The parts of @dal/test-utils' `TlsTestServer` the TLS section uses. */
export interface TlsServerUnderTest {
  /** `ca` signed the server's certificate; `otherCa` signed nothing the server uses. */
  readonly certificates: { readonly ca: string; readonly otherCa: string };
  /** A login that authenticates with a password. */
  readonly passwordLogin: { readonly user: string; readonly password: string };
  /** Give the server a certificate from the same CA naming `names` ('DNS:x'), or its usual one when omitted. */
  reissueCertificate(names?: readonly string[]): Promise<void>;
}
