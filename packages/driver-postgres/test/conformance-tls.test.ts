import { ConnectionError, DatabaseConfig, PoolManager, type Connection } from '@dal/core';
import { describeTlsConformance } from '@dal/conformance';
import { startTlsPostgres, type TlsTestServer } from '@dal/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../src/index.js';
import { PG_URL } from './helpers.js';

// A cluster of its own with ssl = on that refuses plaintext; the shared test server has no TLS.
let server: TlsTestServer;
let base: DatabaseConfig;
beforeAll(async () => {
  server = await startTlsPostgres({ requireTls: true });
  base = DatabaseConfig.fromUrl(server.url, { alias: 'postgres_tls', tls: { mode: 'verify-full', ca: server.certificates.ca } });
}, 120_000);
afterAll(async () => {
  await PoolManager.closeAll();
  await server?.stop();
}, 60_000);

const plain = DatabaseConfig.fromUrl(PG_URL);

async function sessionEncrypted(conn: Connection): Promise<boolean> {
  return (await conn.execute<{ ssl: boolean }>('SELECT [ssl] FROM [pg_stat_ssl] WHERE [pid] = pg_backend_pid()'))[0]?.ssl === true;
}

/** Whether a session opened with `config` is encrypted, as the server sees it. */
async function encryptedVia(config: DatabaseConfig): Promise<boolean> {
  const db = new PostgresDatabase(config);
  try {
    return await db.withConnection(sessionEncrypted);
  } finally {
    await db.close();
  }
}

describeTlsConformance({
  name: 'postgres',
  createDatabase: (overrides, options) => new PostgresDatabase(base.with({ ...overrides }), options),
  types: { int: 'INTEGER', bigint: 'BIGINT', text: 'TEXT', varchar: 'VARCHAR', decimal: 'NUMERIC(12,2)', timestamp: 'TIMESTAMPTZ', boolean: 'BOOLEAN' },
  slowStatement: (seconds, marker) => `SELECT /* ${marker} */ pg_sleep(${Number(seconds)})`,
  networked: true,
  tls: {
    sessionEncrypted,
    server: () => server,
    withoutTls: { host: plain.host, port: plain.port, user: plain.user, password: plain.password, database: plain.database },
  },
});

describe('PostgreSQL TLS from URLs and config', () => {
  it('the URL a hosted database hands out, ?sslmode=require, connects encrypted', async () => {
    expect(await encryptedVia(DatabaseConfig.fromUrl(`${server.url}?sslmode=require`))).toBe(true);
    expect(await encryptedVia(DatabaseConfig.fromUrl(`${server.url}?ssl=true&alias=ssl_true`))).toBe(true);
  });

  it('?sslmode=verify-full&sslrootcert=<file> reads the CA file and verifies', async () => {
    const url = `${server.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(server.certificates.caPath)}`;
    expect(await encryptedVia(DatabaseConfig.fromUrl(url))).toBe(true);
    const wrong = `${server.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(server.certificates.otherCaPath)}`;
    const err = await encryptedVia(DatabaseConfig.fromUrl(wrong)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).retryable).toBe(false);
  });

  it('servername is the name verify-full checks when connecting by address', async () => {
    const ca = server.certificates.ca;
    expect(await encryptedVia(DatabaseConfig.fromUrl(server.url, { tls: { mode: 'verify-full', ca, servername: 'localhost' } }))).toBe(true);
    const err = await encryptedVia(
      DatabaseConfig.fromUrl(server.url, { tls: { mode: 'verify-full', ca, servername: 'db.dal.test' }, alias: 'other_name' }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/does not name the host/);
  });
});
