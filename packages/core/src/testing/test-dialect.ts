import { DalError } from '@dal/resilience';
import type { Dialect } from '../driver/driver.js';
import { ConnectionError, DeadlockError, QueryError } from '../errors/errors.js';

/**
 * The error a test connection throws, shaped like a native client's: a message and a `code`.
 * The dialect maps it by `code`, as a real driver maps its client's errors.
 */
export class TestDriverError extends Error {
  override readonly name = 'TestDriverError';
  constructor(
    /** ECONNREFUSED, EAUTH (credentials rejected), ECONNRESET (session broken), ECANCELED, EDEADLOCK, EQUERY. */
    readonly code: TestErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type TestErrorCode = 'ECONNREFUSED' | 'EAUTH' | 'ECONNRESET' | 'ECANCELED' | 'EDEADLOCK' | 'EQUERY';

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The test driver's dialect: SQLite's translation rules (`?` placeholders, `"ident"` quoting),
 * plain BEGIN/COMMIT and savepoints, and errors mapped by `TestDriverError.code`.
 */
export const testDialect: Dialect = Object.freeze({
  name: 'test',
  translateTarget: 'sqlite',
  quoteIdentifier,
  beginTransactionSql: () => ['BEGIN'],
  savepointSql: (name: string) => `SAVEPOINT ${quoteIdentifier(name)}`,
  releaseSavepointSql: (name: string) => `RELEASE SAVEPOINT ${quoteIdentifier(name)}`,
  rollbackToSavepointSql: (name: string) => `ROLLBACK TO SAVEPOINT ${quoteIdentifier(name)}`,
  mapError(error: unknown, context: { alias: string; sql?: string }): DalError {
    if (DalError.isInstance(error)) return error;
    const code = error instanceof TestDriverError ? error.code : undefined;
    const message = `${context.alias}: ${error instanceof Error ? error.message : String(error)}`;
    switch (code) {
      case 'ECONNREFUSED':
      case 'ECONNRESET':
        return new ConnectionError(message, { cause: error });
      case 'EAUTH':
        // Waiting or retrying cannot fix rejected credentials.
        return new ConnectionError(message, { cause: error, retryable: false });
      case 'EDEADLOCK':
        return new DeadlockError(message, { dialect: 'test', vendorCode: code, sql: context.sql, cause: error });
      default:
        return new QueryError(message, { dialect: 'test', vendorCode: code, sql: context.sql, cause: error });
    }
  },
});
