import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DatabaseConfig, describeTlsFailure } from '../src/index.js';

// Real PEM material from openssl: a CA, and a client certificate with its key.
let dir: string;
let ca: string;
let cert: string;
let key: string;
let otherKey: string;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dal-config-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=ca', '-keyout', file('ca.key'), '-out', file('ca.crt'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=client', '-keyout', file('client.key'), '-out', file('client.crt'));
  openssl('genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', file('other.key'));
  ca = readFileSync(file('ca.crt'), 'utf8');
  cert = readFileSync(file('client.crt'), 'utf8');
  key = readFileSync(file('client.key'), 'utf8');
  otherKey = readFileSync(file('other.key'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DatabaseConfig tls', () => {
  it('keeps the mode and derives what each mode checks', () => {
    const full = new DatabaseConfig({ database: 'app', tls: { mode: 'verify-full', ca } }).tls!;
    expect([full.encrypt, full.verifyChain, full.verifyHost, full.fallbackToPlain]).toEqual([true, true, true, false]);
    const verifyCa = new DatabaseConfig({ database: 'app', tls: { mode: 'verify-ca', ca } }).tls!;
    expect([verifyCa.verifyChain, verifyCa.verifyHost]).toEqual([true, false]);
    const require = new DatabaseConfig({ database: 'app', tls: { mode: 'require' } }).tls!;
    expect([require.encrypt, require.verifyChain, require.verifyHost]).toEqual([true, false, false]);
    // libpq: require with a root certificate checks the chain, like verify-ca.
    expect(new DatabaseConfig({ database: 'app', tls: { mode: 'require', ca } }).tls!.verifyChain).toBe(true);
    expect(new DatabaseConfig({ database: 'app', tls: { mode: 'prefer' } }).tls!.fallbackToPlain).toBe(true);
    expect(new DatabaseConfig({ database: 'app', tls: { mode: 'disable' } }).tls!.encrypt).toBe(false);
    expect(new DatabaseConfig({ database: 'app', tls: { mode: 'verify-full', ca: [Buffer.from(ca), ca] } }).tls!.ca).toContain('BEGIN CERTIFICATE');
  });

  it.each([
    [{ mode: 'strict' }, 'tls.mode'],
    [{}, 'tls.mode'],
    ['require', '"tls" must be an object'],
    [{ mode: 'require', rootCert: 'x' }, 'unknown option "tls.rootCert"'],
    [{ mode: 'verify-full', ca: '/etc/ssl/ca.pem' }, 'not a file path'],
    [{ mode: 'verify-full', ca: 42 }, 'PEM text'],
    [{ mode: 'verify-full', ca: [] }, 'must not be empty'],
    [{ mode: 'verify-full', ca: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n' }, 'not a valid PEM certificate'],
    [{ mode: 'disable', servername: 'db.example' }, "'disable' takes no"],
    [{ mode: 'require', servername: 'db.example' }, 'needs tls.mode \'verify-full\''],
    [{ mode: 'verify-full', servername: '' }, 'servername'],
  ])('rejects tls %o with ConfigError', (tls, mentions) => {
    const attempt = () => new DatabaseConfig({ database: 'app', tls: tls as never });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(mentions);
  });

  it('checks PEM material now: a lone cert, a key that does not match, prefer with a CA', () => {
    expect(() => new DatabaseConfig({ database: 'app', tls: { mode: 'require', cert } })).toThrow('go together');
    expect(() => new DatabaseConfig({ database: 'app', tls: { mode: 'require', cert, key: otherKey } })).toThrow('"tls.key" is not the private key of "tls.cert"');
    expect(() => new DatabaseConfig({ database: 'app', tls: { mode: 'prefer', ca } })).toThrow(/use 'verify-full'/);
    expect(new DatabaseConfig({ database: 'app', tls: { mode: 'verify-full', ca, cert, key } }).tls!.key).toBe(key);
  });

  it('never shows the key: toJSON, hash, String, inspect and errors', () => {
    const config = new DatabaseConfig({ database: 'app', password: 'pw', tls: { mode: 'verify-full', ca, cert, key } });
    const keyBody = key.split('\n')[1]!;
    expect(config.toJSON().tls).toEqual({ mode: 'verify-full', ca: expect.stringMatching(/^sha256:/), cert: expect.stringMatching(/^sha256:/), key: '***', servername: undefined });
    for (const shown of [JSON.stringify(config), config.hash(), String(config), inspect(config, { depth: 5 }), inspect(config.tls)]) {
      expect(shown).not.toContain(keyBody);
    }
    let message = '';
    try {
      // A truncated key does not parse; the reason must not quote it.
      new DatabaseConfig({ database: 'app', tls: { mode: 'require', cert, key: `-----BEGIN PRIVATE KEY-----\n${keyBody.slice(0, 40)}\n-----END PRIVATE KEY-----\n` } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('tls.cert');
    expect(message).not.toContain(keyBody.slice(0, 20));
  });

  it('puts TLS in the hash: configs differing only in TLS get separate pools', () => {
    const plain = new DatabaseConfig({ database: 'app' });
    const required = new DatabaseConfig({ database: 'app', tls: { mode: 'require' } });
    const full = new DatabaseConfig({ database: 'app', tls: { mode: 'verify-full', ca } });
    const hashes = new Set([plain, required, full].map((c) => c.hash()));
    expect(hashes.size).toBe(3);
    expect(new DatabaseConfig({ database: 'app', tls: { mode: 'require' } }).hash()).toBe(required.hash());
    // The same material as a Buffer or as text is the same setting.
    const viaBuffer = new DatabaseConfig({ database: 'app', tls: { mode: 'require', cert: Buffer.from(cert), key: Buffer.from(key) } });
    const viaString = new DatabaseConfig({ database: 'app', tls: { mode: 'require', cert, key } });
    expect(viaBuffer.hash()).toBe(viaString.hash());
    expect(viaString.hash()).not.toBe(required.hash());
  });

  it('with() keeps TLS (key included) and can change or drop it', () => {
    const config = new DatabaseConfig({ database: 'app', tls: { mode: 'verify-full', ca, cert, key } });
    const copy = config.with({ poolMax: 3 });
    expect(copy.tls?.mode).toBe('verify-full');
    expect(copy.tls?.key).toBe(key);
    expect(copy.hash()).not.toBe(config.hash());
    expect(config.with({ poolMax: 3, tls: undefined }).tls).toBeUndefined();
    expect(config.with({ tls: { mode: 'require' } }).tls?.mode).toBe('require');
  });

  it('refuses tls together with driverOptions.ssl, and on SQLite', () => {
    expect(() => new DatabaseConfig({ database: 'app', tls: { mode: 'require' }, driverOptions: { ssl: true } })).toThrow(/either with "tls" or with driverOptions.ssl/);
    expect(() => new DatabaseConfig({ database: 'app.db', backend: 'sqlite', tls: { mode: 'require' } })).toThrow(/"sqlite" backend is embedded/);
    expect(() => DatabaseConfig.fromUrl('sqlite:///tmp/app.db?sslmode=require')).toThrow(/"sqlite" backend is embedded/);
    expect(() => DatabaseConfig.fromUrl('sqlite::memory:?ssl=true')).toThrow(ConfigError);
  });
});

describe('DatabaseConfig.fromUrl TLS parameters', () => {
  it('understands sslmode, ssl=true and reads sslrootcert/sslcert/sslkey files', () => {
    expect(DatabaseConfig.fromUrl('postgres://app:secret@db.example.com:5432/app?sslmode=require').tls?.mode).toBe('require');
    expect(DatabaseConfig.fromUrl('postgres://u@h/db?ssl=true').tls?.mode).toBe('require');
    expect(DatabaseConfig.fromUrl('mysql://u@h/db?ssl=false').tls?.mode).toBe('disable');
    const url = `mariadb://u@h/db?sslmode=verify-full&sslrootcert=${encodeURIComponent(file('ca.crt'))}&sslcert=${file('client.crt')}&sslkey=${file('client.key')}`;
    const config = DatabaseConfig.fromUrl(url);
    expect(config).toMatchObject({ backend: 'mysql', tls: { mode: 'verify-full', ca, cert } });
    expect(config.tls?.key).toBe(key);
    // libpq's 'system': the CAs Node trusts.
    expect(DatabaseConfig.fromUrl('postgres://u@h/db?sslmode=verify-full&sslrootcert=system').tls?.ca).toBeUndefined();
  });

  it('lets overrides replace the URL settings', () => {
    expect(DatabaseConfig.fromUrl('postgres://u@h/db?sslmode=require', { tls: { mode: 'verify-full', ca } }).tls?.mode).toBe('verify-full');
  });

  it.each([
    ['postgres://u@h/db?sslmode=allow', 'sslmode'],
    ['postgres://u@h/db?ssl=yes', '"ssl" must be true or false'],
    ['postgres://u@h/db?ssl=true&sslmode=require', 'not both'],
    ['postgres://u@h/db?sslrootcert=/x.pem', 'need "sslmode"'],
    ['postgres://u@h/db?sslmode=verify-full&sslrootcert=/no/such/ca.pem', 'cannot read the "sslrootcert" file /no/such/ca.pem (ENOENT)'],
  ])('rejects %s with ConfigError', (url, mentions) => {
    expect(() => DatabaseConfig.fromUrl(url)).toThrow(ConfigError);
    expect(() => DatabaseConfig.fromUrl(url)).toThrow(mentions);
  });

  it('names a query parameter it does not know instead of dropping it; alias, env and numbers keep working', () => {
    expect(() => DatabaseConfig.fromUrl('postgres://u@h/db?sslmdoe=require')).toThrow('unknown query parameter "sslmdoe"');
    expect(() => DatabaseConfig.fromUrl('mysql://u@h/db?ssl-mode=REQUIRED')).toThrow('unknown query parameter "ssl-mode"');
    expect(() => DatabaseConfig.fromUrl('sqlite::memory:?mode=worker')).toThrow('unknown query parameter "mode"');
    const config = DatabaseConfig.fromUrl('postgres://u@h/db?alias=main&env=dev&poolMax=7&connectionCreationTimeoutMs=500');
    expect(config).toMatchObject({ alias: 'main', env: 'dev', poolMax: 7, connectionCreationTimeoutMs: 500, tls: undefined });
  });
});

describe('password functions', () => {
  it('are accepted, resolved on demand, and never shown or hashed', async () => {
    let calls = 0;
    const password = async () => `token-${++calls}`;
    const config = new DatabaseConfig({ database: 'app', password });
    expect(calls).toBe(0);
    expect(await config.resolvePassword()).toBe('token-1');
    expect(await config.resolvePassword()).toBe('token-2');
    expect(config.toJSON().password).toBe('***');
    expect(config.hash()).toBe(new DatabaseConfig({ database: 'app', password: 'plain' }).hash());
    expect(config.with({ alias: 'x' }).password).toBe(password);
    expect(await new DatabaseConfig({ database: 'app', password: 'plain' }).resolvePassword()).toBe('plain');
    expect(await new DatabaseConfig({ database: 'app' }).resolvePassword()).toBeUndefined();
  });

  it('must be a string or a function, and the function must give a string', async () => {
    expect(() => new DatabaseConfig({ database: 'app', password: 42 as never })).toThrow(ConfigError);
    const config = new DatabaseConfig({ database: 'app', password: (() => undefined) as never });
    await expect(config.resolvePassword()).rejects.toThrow(ConfigError);
  });
});

describe('describeTlsFailure', () => {
  it('explains certificate and host name failures and ignores everything else', () => {
    const error = (code: string, message: string) => Object.assign(new Error(message), { code });
    expect(describeTlsFailure(error('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'))).toMatch(/not trusted/);
    expect(describeTlsFailure(error('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"))).toMatch(/does not name/);
    expect(describeTlsFailure(error('ECONNREFUSED', 'connect ECONNREFUSED'))).toBeUndefined();
    // A client library that replaced the code (mysql2): the message decides.
    expect(describeTlsFailure(error('HANDSHAKE_SSL_ERROR', 'unable to verify the first certificate'), true)).toMatch(/not trusted/);
    expect(describeTlsFailure(error('HANDSHAKE_SSL_ERROR', 'wrong version number'), true)).toMatch(/handshake failed/);
  });
});
