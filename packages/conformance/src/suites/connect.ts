import { createServer, type Server, type Socket } from 'node:net';
import {
  ConfigError,
  ConnectionError,
  DalError,
  DatabaseFactory,
  DatabaseConfig,
  PoolManager,
  TimeoutError,
} from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** Opening connections and what a new user gets wrong. */
export function connectSuite(target: ConformanceTarget): void {
  describe('connect and bad input', () => {
    let silent: Server;
    let silentPort = 0;
    const sockets = new Set<Socket>();

    beforeAll(async () => {
      // Accepts TCP and never says a word: the worst kind of unreachable server.
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      silentPort = (silent.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });

    test(target, 'connectionCreationTimeoutMs fires on time against a server that never answers', async () => {
      const db = target.createDatabase({ host: '127.0.0.1', port: silentPort, connectionCreationTimeoutMs: 300, alias: `silent_${target.name}` });
      try {
        const started = performance.now();
        const err = await db.execute('SELECT 1').catch((e: unknown) => e);
        const elapsed = performance.now() - started;
        expect(err).toBeInstanceOf(ConnectionError);
        expect((err as ConnectionError).retryable).toBe(true);
        expect((err as ConnectionError).message).toContain(`silent_${target.name}`);
        expect(elapsed).toBeGreaterThanOrEqual(290);
        expect(elapsed).toBeLessThan(300 + 200);
      } finally {
        await db.close();
      }
    });

    test(target, 'poolCreationTimeoutMs bounds building the pool', async () => {
      const db = target.createDatabase({ host: '127.0.0.1', port: silentPort, connectionCreationTimeoutMs: 5_000, poolCreationTimeoutMs: 250 });
      try {
        const started = performance.now();
        const err = await db.execute('SELECT 1').catch((e: unknown) => e);
        // A timeout, as the original asserts: retryable, and not a failed connection attempt.
        expect(err).toBeInstanceOf(TimeoutError);
        expect((err as TimeoutError).retryable).toBe(true);
        expect((err as Error).message).toContain('poolCreationTimeoutMs');
        expect(performance.now() - started).toBeLessThan(250 + 200);
      } finally {
        await db.close();
      }
    });

    test(target, 'a refused port is a ConnectionError, quickly', async () => {
      const probe = createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const closedPort = (probe.address() as { port: number }).port;
      await new Promise((r) => probe.close(r));
      const db = target.createDatabase({ host: '127.0.0.1', port: closedPort, connectionCreationTimeoutMs: 5_000 });
      try {
        const started = performance.now();
        const err = await db.execute('SELECT 1').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectionError);
        expect(performance.now() - started).toBeLessThan(2_000);
      } finally {
        await db.close();
      }
    });

    test(target, 'an unknown host name is a ConnectionError that names the host, quickly', async () => {
      // .invalid never resolves (RFC 6761); a slow resolver still ends at connectionCreationTimeoutMs.
      const host = `no-such-host-${process.pid}.invalid`;
      const db = target.createDatabase({ host, connectionCreationTimeoutMs: 3_000, alias: `unknown_host_${target.name}` });
      try {
        const started = performance.now();
        const err = await db.execute('SELECT 1').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectionError);
        expect((err as Error).message).toContain(host);
        expect(performance.now() - started).toBeLessThan(3_000 + 500);
        expect(PoolManager.getPoolStatus(db.config.hash())?.sizes.size ?? 0).toBe(0);
      } finally {
        await db.close();
      }
    });

    test(target, 'wrong credentials are a ConnectionError that is not retryable and never shows the password', async () => {
      const password = 'definitely-wrong-pw-4821';
      const db = target.createDatabase({ user: 'dal_no_such_user', password });
      try {
        const err = await db.execute('SELECT 1').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectionError);
        expect((err as ConnectionError).retryable).toBe(false);
        expect((err as Error).message).not.toContain(password);
        expect(JSON.stringify(db.config)).not.toContain(password);
        expect(db.config.hash()).not.toContain(password);
      } finally {
        await db.close();
      }
    });

    test(target, 'the factory loads this backend and rejects unknown ones with ConfigError', async () => {
      const direct = target.createDatabase();
      const viaFactory = DatabaseFactory.createDatabase(target.backend ?? target.name, direct.config.with({ alias: `factory_${target.name}` }));
      try {
        expect(await viaFactory.execute('SELECT 3 AS [three]')).toEqual([{ three: 3 }]);
        // The lazily loaded driver maps errors like a directly constructed one. (Class identity
        // is checked by examples/quickstart: a test runner loads workspace packages twice.)
        const err = await viaFactory.execute('SELEC 1').catch((e: unknown) => e);
        expect(DalError.isInstance(err) && err.code).toBe('DAL_QUERY');
        if (target.skip?.['sync connection'] === undefined) {
          const sync = viaFactory.syncConnection();
          expect(() => sync.execute('SELEC 1')).toThrow(expect.objectContaining({ code: 'DAL_QUERY' }));
          sync.release();
        }
      } finally {
        await viaFactory.close();
        await direct.close();
      }
      expect(() => DatabaseFactory.createDatabase('oracle-nope', direct.config)).toThrow(ConfigError);
    });

    test(target, 'invalid settings throw ConfigError at construction', () => {
      expect(() => new DatabaseConfig({ database: 'x', queryExecutionTimeoutMs: -1 })).toThrow(ConfigError);
      expect(() => new DatabaseConfig({ database: 'x', poolMin: 5, poolMax: 2 })).toThrow(ConfigError);
      expect(() => DatabaseConfig.fromUrl('ftp://x/y')).toThrow(ConfigError);
      return Promise.resolve();
    });

    test(target, 'syncConnection works on this backend, and a released one is gone with the pool', async () => {
      const db = target.createDatabase();
      try {
        const sync = db.syncConnection();
        expect(sync.execute('SELECT 7 AS [v] WHERE 1 = ?', [1])).toEqual([{ v: 7 }]);
        sync.transaction((tx) => {
          expect(tx.inTransaction()).toBe(true);
        });
        expect(sync.getVersionDetails().dbServerVersion).toMatch(/\d+\.\d+/);
        sync.release();
        expect(sync.isReleased).toBe(true);
        expect(db.syncConnection()).not.toBe(sync);
      } finally {
        await db.close();
      }
      expect(PoolManager.getPoolStatus(db.config.hash())).toBeUndefined();
      expect(() => db.syncConnection()).toThrow(expect.objectContaining({ code: 'DAL_POOL_CLOSED' }));
    });
  });
}
