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
  /** Terminate session `id` from another connection, as an administrator would. */
  killSession?(db: Database, id: string | number): Promise<void>;
  /** Whether the backend talks to a server over TCP (enables the silent-server tests). */
  readonly networked: boolean;
  /**
   * Tests this backend does not run, by exact title, each with the reason. Never silent:
   * skipped tests show in the report with their reason.
   */
  readonly skip?: Readonly<Record<string, string>>;
}
