import { ConfigError, ConnectionError, PoolManager, QueryTimeoutError, UnsupportedFeatureError, type Database, type SyncConnection } from '@dal/core';
import { describe, expect } from 'vitest';
import { conformanceTest as test, marker } from '../harness.js';
import type { ConformanceTarget, ConformanceTlsTarget } from '../target.js';

/** What a failed connect rejects with. */
async function connectFailure(db: Database): Promise<unknown> {
  return db.execute('SELECT 1').then(
    () => new Error('expected the connect to fail'),
    (error: unknown) => error,
  );
}

/** Run `fn` on a new Database and close it whatever happens. */
async function using<T>(db: Database, fn: (db: Database) => Promise<T>): Promise<T> {
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** TLS from the server's point of view and the failures a wrong TLS setting must give. */
export function tlsSuite(target: ConformanceTarget & { readonly tls: ConformanceTlsTarget }): void {
  const tls = target.tls;
  const encrypted = (db: Database) => db.withConnection((conn) => tls.sessionEncrypted(conn));
  /** Expect a ConnectionError that retrying cannot fix, with a message matching `reason`. */
  const expectPermanent = (err: unknown, reason: RegExp) => {
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).retryable).toBe(false);
    expect((err as Error).message).toMatch(reason);
  };

  describe('TLS', () => {
    test(target, 'sessions are encrypted with verify-full, as the server sees it', async () => {
      await using(target.createDatabase(), async (db) => {
        expect(db.config.tls?.mode).toBe('verify-full');
        expect(await encrypted(db)).toBe(true);
      });
    });

    test(target, 'verify-full with another CA is a ConnectionError that says why and is not retryable', async () => {
      const alias = `tls_other_ca_${target.name}`;
      await using(target.createDatabase({ tls: { mode: 'verify-full', ca: tls.server().certificates.otherCa }, alias }), async (db) => {
        const err = await connectFailure(db);
        expectPermanent(err, /certificate is not trusted/);
        expect((err as Error).message).toContain(alias);
      });
    });

    test(target, 'with a certificate naming another host, verify-full fails saying why while verify-ca and require connect', async () => {
      const server = tls.server();
      await server.reissueCertificate(['DNS:db.dal.test']);
      try {
        await using(target.createDatabase({ alias: `tls_other_name_${target.name}` }), async (db) => {
          expectPermanent(await connectFailure(db), /certificate does not name the host/);
        });
        await using(target.createDatabase({ tls: { mode: 'verify-ca', ca: server.certificates.ca } }), async (db) => {
          expect(await encrypted(db)).toBe(true);
        });
        await using(target.createDatabase({ tls: { mode: 'require' } }), async (db) => {
          expect(await encrypted(db)).toBe(true);
        });
      } finally {
        await server.reissueCertificate();
      }
    }, 30_000);

    test(target, 'verify-ca checks the chain', async () => {
      await using(target.createDatabase({ tls: { mode: 'verify-ca', ca: tls.server().certificates.otherCa } }), async (db) => {
        expectPermanent(await connectFailure(db), /certificate is not trusted/);
      });
    });

    test(target, 'require and prefer encrypt without checking the certificate', async () => {
      // Without tls.ca only the CAs Node trusts would do, and none of them signed the test certificate.
      for (const mode of ['require', 'prefer'] as const) {
        await using(target.createDatabase({ tls: { mode } }), async (db) => {
          expect(await encrypted(db)).toBe(true);
        });
      }
    });

    test(target, 'disable against a server that requires TLS is a clear ConnectionError, not retryable', async () => {
      await using(target.createDatabase({ tls: { mode: 'disable' } }), async (db) => {
        expectPermanent(await connectFailure(db), /TLS/);
      });
    });

    test(target, 'against a server without TLS, prefer connects in plaintext and require fails saying why', async () => {
      await using(target.createDatabase({ ...tls.withoutTls, tls: { mode: 'prefer' } }), async (db) => {
        expect(await encrypted(db)).toBe(false);
      });
      await using(target.createDatabase({ ...tls.withoutTls, tls: { mode: 'require' } }), async (db) => {
        expectPermanent(await connectFailure(db), /does not offer TLS/);
      });
    });

    test(target, 'a statement timeout still stops the statement on the server over TLS', async () => {
      await using(target.createDatabase(), async (db) => {
        await db.withConnection(async (conn) => {
          const err = await conn.execute(target.slowStatement(5, marker('tls_timeout')), [], { timeoutMs: 200 }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(QueryTimeoutError);
          // The session answers at once: the server really stopped the statement.
          const started = performance.now();
          expect(await conn.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
          expect(performance.now() - started).toBeLessThan(1_000);
        });
      });
    });

    test(target, 'a password function is called once per new connection, and its value is never shown', async () => {
      let calls = 0;
      const { user, password } = tls.server().passwordLogin;
      const options = {
        user,
        password: async () => {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 5));
          return password;
        },
        poolMin: 1,
        poolMax: 3,
        alias: `tls_pw_fn_${target.name}`,
      };
      await using(target.createDatabase(options), async (db) => {
        const held = await Promise.all([db.connection(), db.connection(), db.connection()]);
        for (const conn of held) expect(await tls.sessionEncrypted(conn)).toBe(true);
        expect(calls).toBe(3);
        for (const conn of held) await conn.release();
        // Pooled connections are reused: no new physical connection, no new call.
        await db.execute('SELECT 1');
        expect(calls).toBe(3);
        const shown = JSON.stringify([db.config, PoolManager.getPoolStatus(db.config.hash())]) + db.config.hash() + String(db.config);
        expect(shown).not.toContain(password);
      });
    });

    test(target, 'a sync connection is encrypted too, with a password function returning a string; an async one is a ConfigError', async () => {
      let calls = 0;
      const { user, password } = tls.server().passwordLogin;
      await using(target.createDatabase({ user, password: () => (calls++, password), alias: `tls_sync_${target.name}` }), async (db) => {
        let sync: SyncConnection;
        try {
          sync = db.syncConnection();
        } catch (error) {
          // A backend without sync connections says so (checked by the connect section).
          expect(error).toBeInstanceOf(UnsupportedFeatureError);
          return;
        }
        try {
          expect(await tls.sessionEncrypted(sync)).toBe(true);
          expect(calls).toBe(1);
        } finally {
          sync.release();
        }
      });
      await using(target.createDatabase({ user, password: async () => password, alias: `tls_sync_async_${target.name}` }), async (db) => {
        expect(() => db.syncConnection()).toThrow(ConfigError);
      });
    }, 30_000);

    test(target, 'a password function that gives a wrong password, fails or gives no string fails the connect clearly', async () => {
      const user = tls.server().passwordLogin.user;
      const wrong = 'wrong-rotated-pw-5521';
      await using(target.createDatabase({ user, password: () => wrong }), async (db) => {
        const err = await connectFailure(db);
        expectPermanent(err, /./);
        expect((err as Error).message).not.toContain(wrong);
      });
      const failing = () => Promise.reject(new Error('secrets manager unavailable'));
      await using(target.createDatabase({ user, password: failing, retry: false }), async (db) => {
        const err = await connectFailure(db);
        expect(err).toBeInstanceOf(ConnectionError);
        expect((err as Error).message).toContain('secrets manager unavailable');
      });
      await using(target.createDatabase({ user, password: (() => 42) as unknown as () => string }), async (db) => {
        expect(await connectFailure(db)).toBeInstanceOf(ConfigError);
      });
    });
  });
}
