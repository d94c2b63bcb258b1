import { describe, expect, it } from 'vitest';
import { Database, DatabaseConfig } from '../src/index.js';
import { TestDriver, testDialect } from '../src/testing/index.js';

// Issue #17: releasing a savepoint is optional for a backend (a round trip it may do without).
describe('savepoints', () => {
  const statements = (driver: TestDriver): string[] => driver.events.filter((e) => e.type === 'execute').map((e) => e.sql!);

  it('are released when the dialect says how, and not at all when it leaves releaseSavepointSql out', async () => {
    for (const releases of [true, false]) {
      const driver = new TestDriver();
      if (!releases) {
        const { releaseSavepointSql: _omitted, ...withoutRelease } = testDialect;
        (driver as { dialect: unknown }).dialect = withoutRelease;
      }
      const db = new Database(new DatabaseConfig({ database: `savepoints-${releases}-${process.pid}`, env: 'test' }), driver);
      try {
        await db.withConnection((conn) => conn.transaction((tx) => tx.transaction(async (inner) => inner.execute('SELECT 1'))));
        const released = statements(driver).filter((sql) => sql.startsWith('RELEASE SAVEPOINT'));
        expect(statements(driver).some((sql) => sql.startsWith('SAVEPOINT'))).toBe(true);
        expect(released).toHaveLength(releases ? 1 : 0);
      } finally {
        await db.close();
      }
    }
  });
});
