import { describe, expect, it } from 'vitest';
import * as core from '../src/index.js';

const { DalError } = core;

// Every error class with the code it must carry; a new class without a row here fails the last test.
const table: Array<[string, string, () => InstanceType<typeof DalError>]> = [
  ['ConfigError', 'DAL_CONFIG', () => new core.ConfigError('m')],
  ['DriverNotInstalledError', 'DAL_DRIVER_NOT_INSTALLED', () => new core.DriverNotInstalledError('m', 'pkg')],
  ['ConnectionError', 'DAL_CONNECTION', () => new core.ConnectionError('m')],
  ['PoolTimeoutError', 'DAL_POOL_TIMEOUT', () => new core.PoolTimeoutError('m', 1, 2)],
  ['PoolClosedError', 'DAL_POOL_CLOSED', () => new core.PoolClosedError('m')],
  ['QueryTimeoutError', 'DAL_QUERY_TIMEOUT', () => new core.QueryTimeoutError('m', 5)],
  ['TimeoutError', 'DAL_TIMEOUT', () => new core.TimeoutError('m', 5)],
  ['AbortedError', 'DAL_ABORTED', () => new core.AbortedError('m')],
  ['CircuitOpenError', 'DAL_CIRCUIT_OPEN', () => new core.CircuitOpenError('m', 'db', 10)],
  ['QueryError', 'DAL_QUERY', () => new core.QueryError('m', { dialect: 'x' })],
  ['UniqueViolationError', 'DAL_UNIQUE_VIOLATION', () => new core.UniqueViolationError('m', { dialect: 'x' })],
  ['ForeignKeyViolationError', 'DAL_FOREIGN_KEY_VIOLATION', () => new core.ForeignKeyViolationError('m', { dialect: 'x' })],
  ['NotNullViolationError', 'DAL_NOT_NULL_VIOLATION', () => new core.NotNullViolationError('m', { dialect: 'x' })],
  ['CheckViolationError', 'DAL_CHECK_VIOLATION', () => new core.CheckViolationError('m', { dialect: 'x' })],
  ['DeadlockError', 'DAL_DEADLOCK', () => new core.DeadlockError('m', { dialect: 'x' })],
  ['SerializationFailureError', 'DAL_SERIALIZATION_FAILURE', () => new core.SerializationFailureError('m', { dialect: 'x' })],
  ['StaleStatementError', 'DAL_STALE_STATEMENT', () => new core.StaleStatementError('m', { dialect: 'x' })],
  ['TransactionError', 'DAL_TRANSACTION', () => new core.TransactionError('m')],
  ['ConnectionReleasedError', 'DAL_CONNECTION_RELEASED', () => new core.ConnectionReleasedError('m')],
  ['UnsupportedFeatureError', 'DAL_UNSUPPORTED', () => new core.UnsupportedFeatureError('m', 'f')],
  ['EntityError', 'DAL_ENTITY', () => new core.EntityError('m')],
];

describe('error classes', () => {
  it.each(table)('%s has code %s, its name, and is a DalError', (name, code, make) => {
    const error = make();
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error).toBeInstanceOf(DalError);
    expect(error).toBeInstanceOf(Error);
    expect(DalError.isInstance(error)).toBe(true);
    expect(error.toJSON()).toMatchObject({ name, code });
  });

  it('marks the transient ones retryable', () => {
    const retryable = table.filter(([, , make]) => make().retryable).map(([name]) => name);
    expect(retryable.sort()).toEqual(['ConnectionError', 'DeadlockError', 'PoolTimeoutError', 'SerializationFailureError', 'StaleStatementError'].sort());
  });

  it('makes both timeouts TimeoutErrors, and subclasses of QueryError QueryErrors', () => {
    expect(new core.PoolTimeoutError('m', 1, 1)).toBeInstanceOf(core.TimeoutError);
    expect(new core.QueryTimeoutError('m', 1)).toBeInstanceOf(core.TimeoutError);
    expect(new core.DeadlockError('m', { dialect: 'x' })).toBeInstanceOf(core.QueryError);
    expect(new core.QueryError('m', { dialect: 'x' })).not.toBeInstanceOf(core.UniqueViolationError);
  });

  it('recognises a DalError from another copy of the package (and TranslationError) by its marker', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@dal/error')]: true, code: 'DAL_QUERY' });
    expect(DalError.isInstance(foreign)).toBe(true);
    expect(foreign instanceof DalError).toBe(true);
    expect(foreign instanceof core.QueryError).toBe(false);
    expect(new core.TranslationError('m', { dialect: 'postgres', construct: 'parameter-count' } as never)).toBeInstanceOf(DalError);
    expect(DalError.isInstance(new Error('plain'))).toBe(false);
  });

  it('covers every exported error class', () => {
    const exported = Object.entries(core)
      .filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error)
      .map(([name]) => name)
      .filter((name) => name !== 'TranslationError' && name !== 'DalError')
      .sort();
    expect(exported).toEqual(table.map(([name]) => name).sort());
  });
});
