import { ConfigError, ConnectionError, DatabaseConfig, PoolManager, type Connection } from '@dal/core';
import { describeTlsConformance } from '@dal/conformance';
import { startTlsMariadb, type TlsTestServer } from '@dal/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlDatabase } from '../src/index.js';
import { MYSQL_URL } from './helpers.js';

// A MariaDB of its own with --ssl-ca/--ssl-cert/--ssl-key and --require-secure-transport; the shared test server has no TLS.
let server: TlsTestServer;
let base: DatabaseConfig;
let byName: string;
beforeAll(async () => {
  server = await startTlsMariadb({ requireTls: true });
  byName = `mysql://dal@localhost:${server.port}/test`;
  // verify-full by name: mysql2 cannot check an IP address against the certificate.
  base = DatabaseConfig.fromUrl(server.url, { alias: 'mysql_tls', host: 'localhost', tls: { mode: 'verify-full', ca: server.certificates.ca } });
}, 120_000);
afterAll(async () => {
  await PoolManager.closeAll();
  await server?.stop();
}, 60_000);

const plain = DatabaseConfig.fromUrl(MYSQL_URL);

async function sessionEncrypted(conn: Connection): Promise<boolean> {
  return ((await conn.execute<{ Value: string }>("SHOW STATUS LIKE 'Ssl_cipher'"))[0]?.Value ?? '') !== '';
}

/** Whether a session opened with `config` is encrypted, as the server sees it. */
async function encryptedVia(config: DatabaseConfig): Promise<boolean> {
  const db = new MysqlDatabase(config);
  try {
    return await db.withConnection(sessionEncrypted);
  } finally {
    await db.close();
  }
}

describeTlsConformance({
  name: 'mysql',
  // The connect section points some tests at 127.0.0.1 (a silent or closed port): verify-full
  // needs the name there too, so they go to localhost, the same address by the name it carries.
  createDatabase: (overrides, options) =>
    new MysqlDatabase(base.with({ ...overrides, ...(overrides?.host === '127.0.0.1' ? { host: 'localhost' } : {}) }), options),
  types: { int: 'INT', bigint: 'BIGINT', text: 'TEXT', varchar: 'VARCHAR', decimal: 'DECIMAL(12,2)', timestamp: 'DATETIME(3)', boolean: 'BOOLEAN' },
  slowStatement: (seconds, marker) => `SELECT /* ${marker} */ SLEEP(${Number(seconds)})`,
  networked: true,
  tls: {
    sessionEncrypted,
    server: () => server,
    withoutTls: { host: plain.host, port: plain.port, user: plain.user, password: plain.password, database: plain.database },
  },
});

describe('MySQL/MariaDB TLS from URLs and config', () => {
  it('?ssl=true and ?sslmode=require connect encrypted', async () => {
    expect(await encryptedVia(DatabaseConfig.fromUrl(`${server.url}?ssl=true`))).toBe(true);
    expect(await encryptedVia(DatabaseConfig.fromUrl(`mariadb://dal@127.0.0.1:${server.port}/test?sslmode=require&alias=mariadb_url`))).toBe(true);
  });

  it('?sslmode=verify-full&sslrootcert=<file> verifies the chain and the host name', async () => {
    expect(await encryptedVia(DatabaseConfig.fromUrl(`${byName}?sslmode=verify-full&sslrootcert=${encodeURIComponent(server.certificates.caPath)}`))).toBe(true);
    const err = await encryptedVia(
      DatabaseConfig.fromUrl(`${byName}?sslmode=verify-full&sslrootcert=${encodeURIComponent(server.certificates.otherCaPath)}&alias=other_ca`),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/certificate is not trusted/);
  });

  it('verify-full by IP address or with servername is a ConfigError: mysql2 cannot check either', async () => {
    const ca = server.certificates.ca;
    const byAddress = await encryptedVia(DatabaseConfig.fromUrl(server.url, { tls: { mode: 'verify-full', ca }, alias: 'by_ip' })).catch((e: unknown) => e);
    expect(byAddress).toBeInstanceOf(ConfigError);
    expect((byAddress as Error).message).toContain('verify-ca');
    const servername = await encryptedVia(
      DatabaseConfig.fromUrl(byName, { tls: { mode: 'verify-full', ca, servername: 'localhost' }, alias: 'servername' }),
    ).catch((e: unknown) => e);
    expect(servername).toBeInstanceOf(ConfigError);
    // verify-ca by address is fine: it checks no name.
    expect(await encryptedVia(DatabaseConfig.fromUrl(server.url, { tls: { mode: 'verify-ca', ca }, alias: 'verify_ca_ip' }))).toBe(true);
  });
});
