import { ConfigError, type BackendName, type Database } from '@dal/core';
import {
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type OperatorNode,
  type QueryCompiler,
} from 'kysely';
import { DalDriver } from './dal-driver.js';

export interface DalDialectConfig {
  /** The @dal Database every query runs through (its pool, timeouts, breaker and metrics). */
  database: Database;
  /**
   * Which SQL kysely writes: 'postgres', 'mysql' (also MariaDB) or 'sqlite'. Defaults to
   * `database.config.backend`, which `DatabaseConfig.fromUrl` and `DatabaseFactory.fromUrl` set;
   * a config built from an options object has none, so pass it then.
   */
  backend?: BackendName;
  /**
   * Close the @dal Database when kysely's `destroy()` is called. Off by default: the Database is
   * the caller's, and its pool is shared with every Database of the same config in the process.
   */
  closeDatabaseOnDestroy?: boolean;
}

/** kysely's own adapter, compiler and introspector for each backend. */
interface BackendParts {
  adapter(): DialectAdapter;
  compiler(): QueryCompiler;
  introspector(db: Kysely<unknown>): DatabaseIntrospector;
}

/**
 * PostgreSQL's compiler, except that its `?`, `?|` and `?&` JSONB operators are written `??`,
 * `??|`, `??&`: @dal reads a lone `?` as a portable placeholder (and rejects it beside `$1`), and
 * turns `??` back into one literal `?` (see @dal/sql-translate).
 */
class DalPostgresQueryCompiler extends PostgresQueryCompiler {
  protected override visitOperator(node: OperatorNode): void {
    if (node.operator.startsWith('?')) this.append(`?${node.operator}`);
    else super.visitOperator(node);
  }
}

/** The backends kysely has a compiler for (a registered plugin's name is any other string). */
const BACKENDS: Readonly<Record<'postgres' | 'mysql' | 'sqlite', BackendParts>> = {
  postgres: {
    adapter: () => new PostgresAdapter(),
    compiler: () => new DalPostgresQueryCompiler(),
    introspector: (db) => new PostgresIntrospector(db),
  },
  mysql: {
    adapter: () => new MysqlAdapter(),
    compiler: () => new MysqlQueryCompiler(),
    introspector: (db) => new MysqlIntrospector(db),
  },
  sqlite: {
    adapter: () => new SqliteAdapter(),
    compiler: () => new SqliteQueryCompiler(),
    introspector: (db) => new SqliteIntrospector(db),
  },
};

/**
 * A kysely `Dialect` that runs every query through an @dal `Database`: kysely builds and
 * compiles the SQL (with its own PostgreSQL, MySQL or SQLite compiler), @dal runs it.
 *
 * ```ts
 * const db = DatabaseFactory.fromUrl('postgres://postgres@127.0.0.1:5432/app');
 * const k = new Kysely<DB>({ dialect: new DalDialect({ database: db }) });
 * const people = await k.selectFrom('person').selectAll().where('id', '=', 1).execute();
 * ```
 * @throws {ConfigError} when no database is given, or its backend is unknown and not passed.
 */
export class DalDialect implements Dialect {
  readonly #config: DalDialectConfig;
  readonly #backend: BackendName;
  readonly #parts: BackendParts;

  constructor(config: DalDialectConfig) {
    const database = config?.database;
    if (database === null || typeof database !== 'object' || typeof database.connection !== 'function') {
      throw new ConfigError('DalDialect needs { database }: an @dal Database');
    }
    const backend = config.backend ?? database.config.backend;
    if (backend === undefined) {
      throw new ConfigError(
        `DalDialect: ${database.alias}: the config does not say which backend it is; pass { backend: 'postgres' | 'mysql' | 'sqlite' }`,
      );
    }
    const parts = Object.hasOwn(BACKENDS, backend) ? BACKENDS[backend as keyof typeof BACKENDS] : undefined;
    if (parts === undefined) {
      throw new ConfigError(`DalDialect: unknown backend "${String(backend)}": expected postgres, mysql or sqlite`);
    }
    this.#config = config;
    this.#backend = backend;
    this.#parts = parts;
  }

  createDriver(): Driver {
    return new DalDriver(this.#config.database, this.#backend, this.#config.closeDatabaseOnDestroy === true);
  }

  createQueryCompiler(): QueryCompiler {
    return this.#parts.compiler();
  }

  createAdapter(): DialectAdapter {
    return this.#parts.adapter();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return this.#parts.introspector(db);
  }
}
