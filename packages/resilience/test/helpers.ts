/** A promise with its resolve/reject exposed, to drive calls step by step. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An error marked retryable the way DalError subclasses are. */
export class TransientError extends Error {
  readonly retryable = true;
}

/** Settles a promise into a result object so a test can inspect a rejection without racing. */
export function settle<T>(promise: Promise<T>): { readonly done: boolean; readonly value?: T; readonly error?: unknown } {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => {
      state.done = true;
      state.value = value;
    },
    (error: unknown) => {
      state.done = true;
      state.error = error;
    },
  );
  return state;
}
