import { describe, expect, it } from 'vitest';
import { AbortedError, CircuitOpenError, DalError, TimeoutError } from '../src/index.js';

describe('error classes', () => {
  const cases: Array<{ error: DalError; cls: abstract new (...args: never[]) => DalError; code: string; name: string; retryable: boolean }> = [
    { error: new TimeoutError('t', 100), cls: TimeoutError, code: 'DAL_TIMEOUT', name: 'TimeoutError', retryable: false },
    { error: new TimeoutError('t', 100, { retryable: true }), cls: TimeoutError, code: 'DAL_TIMEOUT', name: 'TimeoutError', retryable: true },
    { error: new AbortedError('a', 'why'), cls: AbortedError, code: 'DAL_ABORTED', name: 'AbortedError', retryable: false },
    { error: new CircuitOpenError('c', 'db', 5), cls: CircuitOpenError, code: 'DAL_CIRCUIT_OPEN', name: 'CircuitOpenError', retryable: false },
  ];

  it.each(cases)('$name has code $code, its name and passes isInstance', ({ error, cls, code, name, retryable }) => {
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error.retryable).toBe(retryable);
    expect(DalError.isInstance(error)).toBe(true);
    expect(error).toBeInstanceOf(DalError);
    expect(error).toBeInstanceOf(cls);
    expect(error).toBeInstanceOf(Error);
    expect(error.toJSON()).toEqual({ name, code, message: error.message, retryable });
  });

  it('keeps the extra fields', () => {
    expect(new TimeoutError('t', 250).timeoutMs).toBe(250);
    const open = new CircuitOpenError('c', 'db', 1234);
    expect([open.breakerName, open.retryAfterMs]).toEqual(['db', 1234]);
    const aborted = new AbortedError('a', 'the reason');
    expect(aborted.reason).toBe('the reason');
    expect(aborted.cause).toBe('the reason');
  });

  it('treats an object carrying the cross-copy marker as a DalError', () => {
    // Stands for an error class from a second copy of the package: no shared prototype.
    class ForeignError extends Error {
      readonly code = 'DAL_CONNECTION';
      readonly retryable = true;
      constructor(message: string) {
        super(message);
        Object.defineProperty(this, Symbol.for('@dal/error'), { value: true });
      }
    }
    const foreign = new ForeignError('x');
    expect(DalError.isInstance(foreign)).toBe(true);
    expect(foreign instanceof DalError).toBe(true);
    expect({ [Symbol.for('@dal/error')]: true } instanceof DalError).toBe(true);
    // Subclasses keep the plain prototype check.
    expect(foreign instanceof TimeoutError).toBe(false);
  });

  it('rejects values without the marker', () => {
    for (const value of [new Error('x'), { code: 'DAL_TIMEOUT' }, { [Symbol.for('@dal/error')]: 'yes' }, null, undefined, 'DAL_TIMEOUT', 42]) {
      expect(DalError.isInstance(value)).toBe(false);
      expect(value instanceof DalError).toBe(false);
    }
  });
});
