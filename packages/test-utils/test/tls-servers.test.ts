import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createTestCertificates, startTlsMariadb, startTlsPostgres, waitUntilAnswers } from '../src/index.js';

describe('TLS test servers', () => {
  it('makes a server certificate for localhost and 127.0.0.1, signed by the test CA and not by the other one', async () => {
    const certificates = await createTestCertificates();
    try {
      const server = new X509Certificate(await readFile(certificates.serverCertPath));
      expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
      expect(server.checkIssued(new X509Certificate(certificates.ca))).toBe(true);
      expect(server.checkIssued(new X509Certificate(certificates.otherCa))).toBe(false);
    } finally {
      await rm(certificates.dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['PostgreSQL', startTlsPostgres],
    ['MariaDB', startTlsMariadb],
  ])('starts %s on a free port, and stop() ends the server and removes its certificates', async (_name, start) => {
    const server = await start({ requireTls: false });
    try {
      // The admin client over plain TCP answers (requireTls off); the drivers' tests check TLS itself.
      await waitUntilAnswers(server.url, 10_000);
      expect(server.port).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
    expect(existsSync(server.certificates.dir)).toBe(false);
    await expect(waitUntilAnswers(server.url, 1_000)).rejects.toThrow();
  }, 120_000);
});
