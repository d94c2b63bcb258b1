import { ConfigError, PoolManager, PoolTimeoutError, QueryTimeoutError, TransactionError, type Connection, type Database } from '@dal/core';
import { eq, gt, relations, sql } from 'drizzle-orm';
import { int, mysqlTable, varchar as mysqlVarchar } from 'drizzle-orm/mysql-core';
import { drizzle as mysqlDrizzle } from 'drizzle-orm/mysql-proxy';
import { integer, pgTable, serial, varchar } from 'drizzle-orm/pg-core';
import { drizzle as pgDrizzle } from 'drizzle-orm/pg-proxy';
import { integer as sqliteInteger, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { drizzle as sqliteDrizzle } from 'drizzle-orm/sqlite-proxy';
import { afterAll, describe, expect, it } from 'vitest';
// The backends are shared with @dal/kysely's tests: one place that knows how to reach each server.
import { eventually, stillTrueAfter, testBackends, uniqueMarker, type TestBackend } from '../../kysely/test/backends.js';
import { dalErrorOf, dalMysqlProxy, dalPgProxy, dalSqliteBatchProxy, dalSqliteProxy } from '../src/index.js';

// drizzle's getting-started tables (users, and posts to join), prefixed so other suites never clash.
const pgUsers = pgTable('drizzle_users', {
  id: serial('id').primaryKey(),
  name: varchar('name', { length: 255 }).notNull(),
  age: integer('age').notNull(),
  email: varchar('email', { length: 255 }).notNull().unique(),
});
const pgPosts = pgTable('drizzle_posts', {
  id: serial('id').primaryKey(),
  title: varchar('title', { length: 255 }).notNull(),
  authorId: integer('author_id').notNull(),
});
const pgSchema = {
  pgUsers,
  pgPosts,
  pgUsersRelations: relations(pgUsers, ({ many }) => ({ posts: many(pgPosts) })),
  pgPostsRelations: relations(pgPosts, ({ one }) => ({ author: one(pgUsers, { fields: [pgPosts.authorId], references: [pgUsers.id] }) })),
};

const mysqlUsers = mysqlTable('drizzle_users', {
  id: int('id').primaryKey().autoincrement(),
  name: mysqlVarchar('name', { length: 255 }).notNull(),
  age: int('age').notNull(),
  email: mysqlVarchar('email', { length: 255 }).notNull().unique(),
});
const mysqlPosts = mysqlTable('drizzle_posts', {
  id: int('id').primaryKey().autoincrement(),
  title: mysqlVarchar('title', { length: 255 }).notNull(),
  authorId: int('author_id').notNull(),
});

const sqliteUsers = sqliteTable('drizzle_users', {
  id: sqliteInteger('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  age: sqliteInteger('age').notNull(),
  email: text('email').notNull().unique(),
});
const sqlitePosts = sqliteTable('drizzle_posts', {
  id: sqliteInteger('id').primaryKey({ autoIncrement: true }),
  title: text('title').notNull(),
  authorId: sqliteInteger('author_id').notNull(),
});
const sqliteSchema = {
  sqliteUsers,
  sqlitePosts,
  sqliteUsersRelations: relations(sqliteUsers, ({ many }) => ({ posts: many(sqlitePosts) })),
  sqlitePostsRelations: relations(sqlitePosts, ({ one }) => ({ author: one(sqliteUsers, { fields: [sqlitePosts.authorId], references: [sqliteUsers.id] }) })),
};

const DDL: Record<TestBackend['name'], string[]> = {
  postgres: [
    'CREATE TABLE drizzle_users (id serial PRIMARY KEY, name varchar(255) NOT NULL, age integer NOT NULL, email varchar(255) NOT NULL UNIQUE)',
    'CREATE TABLE drizzle_posts (id serial PRIMARY KEY, title varchar(255) NOT NULL, author_id integer NOT NULL)',
  ],
  mysql: [
    'CREATE TABLE drizzle_users (id int AUTO_INCREMENT PRIMARY KEY, name varchar(255) NOT NULL, age int NOT NULL, email varchar(255) NOT NULL UNIQUE)',
    'CREATE TABLE drizzle_posts (id int AUTO_INCREMENT PRIMARY KEY, title varchar(255) NOT NULL, author_id int NOT NULL)',
  ],
  sqlite: [
    'CREATE TABLE drizzle_users (id integer PRIMARY KEY AUTOINCREMENT, name text NOT NULL, age integer NOT NULL, email text NOT NULL UNIQUE)',
    'CREATE TABLE drizzle_posts (id integer PRIMARY KEY AUTOINCREMENT, title text NOT NULL, author_id integer NOT NULL)',
  ],
};

const backends = testBackends();
const byName = (name: TestBackend['name']): TestBackend => backends.find((b) => b.name === name)!;
afterAll(() => {
  for (const backend of backends) backend.cleanup();
});

/** A Database for `backend` with the getting-started tables, fresh. */
async function openWithTables(backend: TestBackend): Promise<Database> {
  const db = backend.open(`drizzle_${backend.name}`);
  await db.execute('DROP TABLE IF EXISTS drizzle_posts');
  await db.execute('DROP TABLE IF EXISTS drizzle_users');
  for (const ddl of DDL[backend.name]) await db.execute(ddl);
  return db;
}

async function dropTables(db: Database | undefined): Promise<void> {
  if (db === undefined) return;
  await db.execute('DROP TABLE IF EXISTS drizzle_posts');
  await db.execute('DROP TABLE IF EXISTS drizzle_users');
  await db.close();
}

/**
 * One transaction that commits (user 'Committed') and one that rolls back (user 'RolledBack'),
 * both run by @dal on a held connection, with `insert` writing through a drizzle built on it.
 */
async function commitThenRollBack(db: Database, insert: (tx: Connection, user: { name: string; age: number; email: string }) => Promise<unknown>): Promise<void> {
  await db.withConnection((conn) => conn.transaction((tx) => insert(tx, { name: 'Committed', age: 40, email: 'c@example.com' })));
  const rolledBack = db.withConnection((conn) =>
    conn.transaction(async (tx) => {
      await insert(tx, { name: 'RolledBack', age: 41, email: 'r@example.com' });
      throw new Error('changed my mind');
    }),
  );
  await expect(rolledBack).rejects.toThrow('changed my mind');
}

/**
 * The timeout and pool-timeout cases, alike for every proxy: `rawQuery` runs one SQL text
 * through a drizzle built on the given Database.
 */
function limitCases(backend: TestBackend, rawQuery: (db: Database, text: string) => Promise<unknown>): void {
  it('cancels a statement past queryExecutionTimeoutMs on the server and rejects with QueryTimeoutError', async () => {
    const overrides = backend.name === 'sqlite' ? { queryExecutionTimeoutMs: 1_000, driverOptions: { mode: 'process' } } : { queryExecutionTimeoutMs: 1_000 };
    const slowDb = backend.open(`drizzle_${backend.name}_timeout`, overrides);
    try {
      const marker = uniqueMarker('drizzle_timeout');
      const started = Date.now();
      const run = rawQuery(slowDb, backend.sleepSql(30, marker)).catch((e: unknown) => e);
      if (backend.name !== 'sqlite') expect(await eventually(() => backend.isRunning(marker), 1_000)).toBe(true);
      const error = await run;
      // drizzle wraps it in its DrizzleQueryError ("Failed query: ..."), with @dal's error as cause.
      expect((error as Error).cause).toBeInstanceOf(QueryTimeoutError);
      expect(dalErrorOf(error)).toBeInstanceOf(QueryTimeoutError);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await stillTrueAfter(() => backend.isRunning(marker), 3_000)).toBe(false);
      await rawQuery(slowDb, 'SELECT 1');
    } finally {
      await slowDb.close();
    }
  });

  it('rejects with PoolTimeoutError when the only connection is held past connectionAcquisitionTimeoutMs', async () => {
    const smallDb = backend.open(`drizzle_${backend.name}_pool`, { poolMin: 1, poolMax: 1, connectionAcquisitionTimeoutMs: 200 });
    try {
      const held = await smallDb.connection();
      try {
        expect(dalErrorOf(await rawQuery(smallDb, 'SELECT 1').catch((e: unknown) => e))).toBeInstanceOf(PoolTimeoutError);
      } finally {
        await held.release();
      }
      await rawQuery(smallDb, 'SELECT 1');
    } finally {
      await smallDb.close();
    }
  });
}

describe('dalPgProxy (drizzle-orm/pg-proxy) on PostgreSQL', () => {
  const backend = byName('postgres');
  let db: Database;
  afterAll(() => dropTables(db));

  it("runs the getting-started guide's queries: insert, select with where and join, relational query, update, delete", async () => {
    db = await openWithTables(backend);
    const orm = pgDrizzle(dalPgProxy(db), { schema: pgSchema });
    const [john] = await orm.insert(pgUsers).values({ name: 'John', age: 30, email: 'john@example.com' }).returning();
    const [jane] = await orm.insert(pgUsers).values({ name: 'Jane', age: 25, email: 'jane@example.com' }).returning({ id: pgUsers.id });
    expect(john).toEqual({ id: expect.any(Number), name: 'John', age: 30, email: 'john@example.com' });
    await orm.insert(pgPosts).values([
      { title: 'Hello', authorId: john!.id },
      { title: 'Again', authorId: john!.id },
    ]);

    expect(await orm.select().from(pgUsers).where(gt(pgUsers.age, 26))).toEqual([john]);
    const joined = await orm
      .select({ name: pgUsers.name, title: pgPosts.title })
      .from(pgPosts)
      .innerJoin(pgUsers, eq(pgPosts.authorId, pgUsers.id))
      .orderBy(pgPosts.id);
    expect(joined).toEqual([
      { name: 'John', title: 'Hello' },
      { name: 'John', title: 'Again' },
    ]);
    const withPosts = await orm.query.pgUsers.findFirst({ where: eq(pgUsers.id, john!.id), with: { posts: { columns: { title: true } } } });
    expect(withPosts?.posts.map((p) => p.title).sort()).toEqual(['Again', 'Hello']);
    // db.execute gets row objects.
    expect(await orm.execute(sql`SELECT count(*)::int AS n FROM ${pgUsers}`)).toEqual([{ n: 2 }]);

    await orm.update(pgUsers).set({ age: 31 }).where(eq(pgUsers.email, 'john@example.com'));
    expect((await orm.select({ age: pgUsers.age }).from(pgUsers).where(eq(pgUsers.id, john!.id)))[0]?.age).toBe(31);
    const deleted = await orm.delete(pgUsers).where(eq(pgUsers.id, jane!.id)).returning({ id: pgUsers.id });
    expect(deleted).toEqual([{ id: jane!.id }]);
    expect(await orm.select({ name: pgUsers.name }).from(pgUsers)).toEqual([{ name: 'John' }]);
  });

  it('commits and rolls back transactions run by @dal on a held connection', async () => {
    await commitThenRollBack(db, (tx, user) => pgDrizzle(dalPgProxy(tx)).insert(pgUsers).values(user));
    const names = (await pgDrizzle(dalPgProxy(db)).select({ name: pgUsers.name }).from(pgUsers)).map((r) => r.name).sort();
    expect(names).toEqual(['Committed', 'John']);
  });

  it('refuses BEGIN on a pooled Database, where later statements could run on other connections', async () => {
    expect(dalErrorOf(await pgDrizzle(dalPgProxy(db)).execute(sql`BEGIN`).catch((e: unknown) => e))).toBeInstanceOf(TransactionError);
  });

  limitCases(backend, (target, text) => pgDrizzle(dalPgProxy(target)).execute(sql.raw(text)));
});

describe('dalMysqlProxy (drizzle-orm/mysql-proxy) on MariaDB', () => {
  const backend = byName('mysql');
  let db: Database;
  afterAll(() => dropTables(db));

  it("runs the getting-started guide's queries: insert with $returningId, select with where and join, update, delete", async () => {
    db = await openWithTables(backend);
    const orm = mysqlDrizzle(dalMysqlProxy(db));
    const [john] = await orm.insert(mysqlUsers).values({ name: 'John', age: 30, email: 'john@example.com' }).$returningId();
    const ids = await orm
      .insert(mysqlUsers)
      .values([
        { name: 'Jane', age: 25, email: 'jane@example.com' },
        { name: 'Joe', age: 50, email: 'joe@example.com' },
      ])
      .$returningId();
    expect(ids).toEqual([{ id: john!.id + 1 }, { id: john!.id + 2 }]);
    await orm.insert(mysqlPosts).values({ title: 'Hello', authorId: john!.id });

    const older = await orm.select().from(mysqlUsers).where(gt(mysqlUsers.age, 26)).orderBy(mysqlUsers.id);
    expect(older.map((u) => u.name)).toEqual(['John', 'Joe']);
    expect(older[0]).toEqual({ id: john!.id, name: 'John', age: 30, email: 'john@example.com' });
    const joined = await orm.select({ name: mysqlUsers.name, title: mysqlPosts.title }).from(mysqlPosts).innerJoin(mysqlUsers, eq(mysqlPosts.authorId, mysqlUsers.id));
    expect(joined).toEqual([{ name: 'John', title: 'Hello' }]);

    const [updated] = await orm.update(mysqlUsers).set({ age: 31 }).where(eq(mysqlUsers.email, 'john@example.com'));
    expect(updated.affectedRows).toBe(1);
    const [deleted] = await orm.delete(mysqlUsers).where(gt(mysqlUsers.age, 40));
    expect(deleted.affectedRows).toBe(1);
    expect((await orm.select({ name: mysqlUsers.name }).from(mysqlUsers).orderBy(mysqlUsers.id)).map((r) => r.name)).toEqual(['John', 'Jane']);
    // db.execute of a read gets [rows, fields], as with mysql2.
    const [rows] = (await orm.execute(sql`SELECT COUNT(*) AS n FROM ${mysqlUsers} WHERE ${mysqlUsers.age} > 100`)) as unknown as [Array<{ n: number }>];
    expect(rows.map((r) => Number(r.n))).toEqual([0]);
  });

  it('commits and rolls back transactions run by @dal on a held connection', async () => {
    await commitThenRollBack(db, (tx, user) => mysqlDrizzle(dalMysqlProxy(tx)).insert(mysqlUsers).values(user));
    const names = (await mysqlDrizzle(dalMysqlProxy(db)).select({ name: mysqlUsers.name }).from(mysqlUsers)).map((r) => r.name).sort();
    expect(names).toEqual(['Committed', 'Jane', 'John']);
  });

  limitCases(backend, (target, text) => mysqlDrizzle(dalMysqlProxy(target)).execute(sql.raw(text)));
});

describe('dalSqliteProxy (drizzle-orm/sqlite-proxy) on SQLite', () => {
  const backend = byName('sqlite');
  let db: Database;
  afterAll(() => dropTables(db));

  it("runs the getting-started guide's queries with every proxy method: run, all, get, values", async () => {
    db = await openWithTables(backend);
    const orm = sqliteDrizzle(dalSqliteProxy(db), { schema: sqliteSchema });
    const [john] = await orm.insert(sqliteUsers).values({ name: 'John', age: 30, email: 'john@example.com' }).returning();
    expect(john).toEqual({ id: expect.any(Number), name: 'John', age: 30, email: 'john@example.com' });
    const ran = await orm.insert(sqliteUsers).values({ name: 'Jane', age: 25, email: 'jane@example.com' }).run();
    expect(ran).toMatchObject({ rows: [], changes: 1, lastInsertRowid: john!.id + 1 });
    await orm.insert(sqlitePosts).values([
      { title: 'Hello', authorId: john!.id },
      { title: 'Again', authorId: john!.id },
    ]);

    expect(await orm.select().from(sqliteUsers).where(gt(sqliteUsers.age, 26)).all()).toEqual([john]);
    expect(await orm.select().from(sqliteUsers).where(eq(sqliteUsers.id, john!.id)).get()).toEqual(john);
    expect(await orm.select().from(sqliteUsers).where(eq(sqliteUsers.id, -1)).get()).toBeUndefined();
    expect(await orm.select({ name: sqliteUsers.name, age: sqliteUsers.age }).from(sqliteUsers).orderBy(sqliteUsers.id).values()).toEqual([
      ['John', 30],
      ['Jane', 25],
    ]);
    const joined = await orm
      .select({ name: sqliteUsers.name, title: sqlitePosts.title })
      .from(sqlitePosts)
      .innerJoin(sqliteUsers, eq(sqlitePosts.authorId, sqliteUsers.id))
      .orderBy(sqlitePosts.id);
    expect(joined).toEqual([
      { name: 'John', title: 'Hello' },
      { name: 'John', title: 'Again' },
    ]);
    const withPosts = await orm.query.sqliteUsers.findFirst({ where: eq(sqliteUsers.id, john!.id), with: { posts: true } });
    expect(withPosts?.posts.map((p) => p.title).sort()).toEqual(['Again', 'Hello']);

    await orm.update(sqliteUsers).set({ age: 31 }).where(eq(sqliteUsers.email, 'john@example.com'));
    expect((await orm.select({ age: sqliteUsers.age }).from(sqliteUsers).where(eq(sqliteUsers.id, john!.id)).get())?.age).toBe(31);
    await orm.delete(sqliteUsers).where(eq(sqliteUsers.name, 'Jane'));
    expect(await orm.select({ name: sqliteUsers.name }).from(sqliteUsers)).toEqual([{ name: 'John' }]);
  });

  it("runs drizzle's own transaction() on a held connection: commit, rollback, nested savepoint", async () => {
    await db.withConnection(async (conn) => {
      const orm = sqliteDrizzle(dalSqliteProxy(conn));
      await orm.transaction(async (tx) => {
        await tx.insert(sqliteUsers).values({ name: 'Committed', age: 40, email: 'c@example.com' });
        await expect(
          tx.transaction(async (inner) => {
            await inner.insert(sqliteUsers).values({ name: 'Inner', age: 42, email: 'i@example.com' });
            throw new Error('undo the inner one');
          }),
        ).rejects.toThrow('undo the inner one');
        expect(conn.inTransaction()).toBe(true);
      });
      expect(conn.inTransaction()).toBe(false);
      await expect(
        orm.transaction(async (tx) => {
          await tx.insert(sqliteUsers).values({ name: 'RolledBack', age: 41, email: 'r@example.com' });
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      expect(conn.inTransaction()).toBe(false);
    });
    const names = (await sqliteDrizzle(dalSqliteProxy(db)).select({ name: sqliteUsers.name }).from(sqliteUsers)).map((r) => r.name).sort();
    expect(names).toEqual(['Committed', 'John']);
  });

  it('refuses drizzle transaction() on a pooled Database with TransactionError', async () => {
    const orm = sqliteDrizzle(dalSqliteProxy(db));
    expect(dalErrorOf(await orm.transaction(async (tx) => tx.select().from(sqliteUsers)).catch((e: unknown) => e))).toBeInstanceOf(TransactionError);
    expect(PoolManager.getPoolStatus(db.config.hash())?.sizes.inUse ?? 0).toBe(0);
  });

  it('runs a batch all or nothing on one connection', async () => {
    const orm = sqliteDrizzle(dalSqliteProxy(db), dalSqliteBatchProxy(db));
    const [inserted, all] = await orm.batch([
      orm.insert(sqliteUsers).values({ name: 'Batch', age: 20, email: 'b@example.com' }).returning({ id: sqliteUsers.id }),
      orm.select({ name: sqliteUsers.name }).from(sqliteUsers).orderBy(sqliteUsers.name),
    ]);
    expect(inserted).toEqual([{ id: expect.any(Number) }]);
    expect(all.map((r) => r.name)).toEqual(['Batch', 'Committed', 'John']);
    // A failing statement (duplicate email) undoes the whole batch.
    await expect(
      orm.batch([
        orm.insert(sqliteUsers).values({ name: 'Lost', age: 1, email: 'lost@example.com' }),
        orm.insert(sqliteUsers).values({ name: 'Dup', age: 2, email: 'b@example.com' }),
      ]),
    ).rejects.toThrow();
    expect(await orm.select().from(sqliteUsers).where(eq(sqliteUsers.name, 'Lost'))).toEqual([]);
  });

  limitCases(backend, (target, text) => sqliteDrizzle(dalSqliteProxy(target)).all(sql.raw(text)));
});

describe('proxy options', () => {
  it('passes timeoutMs and tags to every statement', async () => {
    const backend = byName('sqlite');
    const db = backend.open('drizzle_options');
    try {
      const orm = sqliteDrizzle(dalSqliteProxy(db, { tags: { operation: 'orm_ping' }, timeoutMs: 5_000 }));
      await orm.all(sql`SELECT 1`);
      expect(PoolManager.getPoolStatus(db.config.hash())?.metrics.operations['orm_ping']?.count).toBe(1);
      const broken = sqliteDrizzle(dalSqliteProxy(db, { timeoutMs: -1 }));
      expect(dalErrorOf(await broken.all(sql`SELECT 1`).catch((e: unknown) => e))).toBeInstanceOf(ConfigError);
    } finally {
      await db.close();
    }
  });
});
