import { Database, DatabaseConfig, PoolManager, type DatabaseConfigOptions, type Logger, type PoolStatus } from '../../src/index.js';
import { TestDriver, type TestDriverOptions } from '../../src/testing/index.js';

let counter = 0;

/** One log line a Database wrote. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown>;
}

/**
 * A Database on a fresh TestDriver, through the public constructor. Each call gets a config of
 * its own (pools are shared per config hash across the process), logs captured, and a helper
 * for the pool's status.
 */
export function testDatabase(options: Partial<DatabaseConfigOptions> = {}, driverOptions: TestDriverOptions = {}) {
  const driver = new TestDriver(driverOptions);
  const config = new DatabaseConfig({ database: `core-test-${process.pid}-${++counter}`, env: 'test', ...options });
  const logs: LogLine[] = [];
  const capture =
    (level: LogLine['level']) =>
    (data: Record<string, unknown>, message: string): void => {
      logs.push({ level, message, data });
    };
  const logger: Logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  const db = new Database(config, driver, { logger });
  const status = (): PoolStatus => {
    const found = PoolManager.getPoolStatus(config.hash());
    if (found === undefined) throw new Error('no pool for this config yet');
    return found;
  };
  return { db, driver, config, logs, status };
}

/** What a promise settled with, without throwing: `{ value }` or `{ error }`. */
export async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** afterEach: close every pool, destroying connections a failed test left checked out. */
export const closeAllPools = (): Promise<void> => PoolManager.closeAll({ timeoutMs: 100 });
