import {
  AbortedError,
  ConfigError,
  PoolManager,
  PoolTimeoutError,
  QueryError,
  QueryTimeoutError,
  UnsupportedFeatureError,
  type Database,
} from '@dal/core';
import { CompiledQuery, Kysely, sql, type ColumnType, type Generated, type Insertable, type Selectable, type Updateable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DalDialect, type DalKyselyConnection } from '../src/index.js';
import { eventually, stillTrueAfter, testBackends, uniqueMarker } from './backends.js';

// The tables of kysely's getting-started guide (person, pet), prefixed so other suites on the same servers never clash.
interface PersonTable {
  id: Generated<number>;
  first_name: string;
  gender: 'man' | 'woman' | 'other';
  last_name: string | null;
  created_at: ColumnType<Date | string, never, never>;
}
interface PetTable {
  id: Generated<number>;
  name: string;
  owner_id: number;
  species: 'dog' | 'cat';
}
interface DB {
  kysely_person: PersonTable;
  kysely_pet: PetTable;
}
type Person = Selectable<PersonTable>;
type NewPerson = Insertable<PersonTable>;
type PersonUpdate = Updateable<PersonTable>;

const backends = testBackends();
afterAll(() => {
  for (const backend of backends) backend.cleanup();
});

describe.each(backends)('DalDialect on $name', (backend) => {
  let db: Database;
  let k: Kysely<DB>;

  /** The guide's createPerson: RETURNING where the backend has it, else the insert id. */
  async function createPerson(person: NewPerson): Promise<Person> {
    if (backend.name === 'mysql') {
      const { insertId } = await k.insertInto('kysely_person').values(person).executeTakeFirstOrThrow();
      return k.selectFrom('kysely_person').selectAll().where('id', '=', Number(insertId)).executeTakeFirstOrThrow();
    }
    return k.insertInto('kysely_person').values(person).returningAll().executeTakeFirstOrThrow();
  }

  async function countPeople(): Promise<number> {
    const { n } = await k.selectFrom('kysely_person').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(n);
  }

  beforeAll(async () => {
    db = backend.open(`kysely_${backend.name}`);
    k = new Kysely<DB>({ dialect: new DalDialect({ database: db }) });
    await k.schema.dropTable('kysely_pet').ifExists().execute();
    await k.schema.dropTable('kysely_person').ifExists().execute();
    await k.schema
      .createTable('kysely_person')
      .addColumn('id', backend.name === 'postgres' ? 'serial' : 'integer', (col) => (backend.name === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement()))
      .addColumn('first_name', 'varchar(255)', (col) => col.notNull())
      .addColumn('last_name', 'varchar(255)')
      .addColumn('gender', 'varchar(50)', (col) => col.notNull())
      .addColumn('created_at', 'timestamp', (col) => col.defaultTo(sql`CURRENT_TIMESTAMP`).notNull())
      .execute();
    await k.schema
      .createTable('kysely_pet')
      .addColumn('id', backend.name === 'postgres' ? 'serial' : 'integer', (col) => (backend.name === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement()))
      .addColumn('name', 'varchar(255)', (col) => col.notNull())
      .addColumn('owner_id', 'integer', (col) => col.references('kysely_person.id').onDelete('cascade').notNull())
      .addColumn('species', 'varchar(50)', (col) => col.notNull())
      .execute();
  });

  afterAll(async () => {
    await k?.schema.dropTable('kysely_pet').ifExists().execute();
    await k?.schema.dropTable('kysely_person').ifExists().execute();
    await k?.destroy();
    await db?.close();
  });

  it("runs the getting-started guide's queries: insert, select with where and join, update, delete", async () => {
    const jennifer = await createPerson({ first_name: 'Jennifer', last_name: 'Aniston', gender: 'woman' });
    const arnold = await createPerson({ first_name: 'Arnold', last_name: 'Schwarzenegger', gender: 'man' });
    expect(jennifer).toMatchObject({ first_name: 'Jennifer', last_name: 'Aniston', gender: 'woman' });
    expect(typeof jennifer.id).toBe('number');
    expect(arnold.id).toBeGreaterThan(jennifer.id);
    expect(jennifer.created_at).toBeTruthy();

    await k
      .insertInto('kysely_pet')
      .values([
        { name: 'Catto', owner_id: jennifer.id, species: 'cat' },
        { name: 'Doggo', owner_id: arnold.id, species: 'dog' },
      ])
      .execute();

    // findPersonById / findPeople
    expect(await k.selectFrom('kysely_person').where('id', '=', jennifer.id).selectAll().executeTakeFirst()).toMatchObject({ first_name: 'Jennifer' });
    const men = await k.selectFrom('kysely_person').selectAll().where('gender', '=', 'man').where('last_name', 'is not', null).execute();
    expect(men.map((p) => p.first_name)).toEqual(['Arnold']);

    const owners = await k
      .selectFrom('kysely_person')
      .innerJoin('kysely_pet', 'kysely_pet.owner_id', 'kysely_person.id')
      .select(['kysely_person.first_name', 'kysely_pet.name as pet_name'])
      .where('kysely_pet.species', '=', 'cat')
      .execute();
    expect(owners).toEqual([{ first_name: 'Jennifer', pet_name: 'Catto' }]);

    // updatePerson
    const update: PersonUpdate = { last_name: 'Smith' };
    const updated = await k.updateTable('kysely_person').set(update).where('id', '=', jennifer.id).executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(1n);
    expect((await k.selectFrom('kysely_person').select('last_name').where('id', '=', jennifer.id).executeTakeFirstOrThrow()).last_name).toBe('Smith');

    // deletePerson (pets go by ON DELETE CASCADE)
    const deleted = await k.deleteFrom('kysely_person').where('id', '=', arnold.id).executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(1n);
    expect(await countPeople()).toBe(1);
    expect(await k.selectFrom('kysely_pet').select('name').execute()).toEqual([{ name: 'Catto' }]);
  });

  it('commits a transaction: both rows are there afterwards', async () => {
    const before = await countPeople();
    const owner = await k.transaction().execute(async (trx) => {
      const insert = trx.insertInto('kysely_person').values({ first_name: 'Committed', last_name: null, gender: 'other' });
      const id = backend.name === 'mysql' ? Number((await insert.executeTakeFirstOrThrow()).insertId) : (await insert.returning('id').executeTakeFirstOrThrow()).id;
      await trx.insertInto('kysely_pet').values({ name: 'Kitty', owner_id: id, species: 'cat' }).execute();
      return id;
    });
    expect(await countPeople()).toBe(before + 1);
    expect(await k.selectFrom('kysely_pet').select('name').where('owner_id', '=', owner).execute()).toEqual([{ name: 'Kitty' }]);
  });

  it('rolls a transaction back when its callback throws, and gives the connection back', async () => {
    const before = await countPeople();
    await expect(
      k.transaction().execute(async (trx) => {
        await trx.insertInto('kysely_person').values({ first_name: 'RolledBack', gender: 'other' }).execute();
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await countPeople()).toBe(before);
    expect(await k.selectFrom('kysely_person').select('id').where('first_name', '=', 'RolledBack').execute()).toEqual([]);
    const status = PoolManager.getPoolStatus(db.config.hash());
    expect(status?.sizes.inUse ?? 0).toBe(0);
  });

  it('rolls back to a savepoint inside a controlled transaction', async () => {
    const before = await countPeople();
    const trx = await k.startTransaction().execute();
    await trx.insertInto('kysely_person').values({ first_name: 'Kept', gender: 'other' }).execute();
    const sp = await trx.savepoint('before_second').execute();
    await sp.insertInto('kysely_person').values({ first_name: 'Undone', gender: 'other' }).execute();
    const back = await sp.rollbackToSavepoint('before_second').execute();
    await back.commit().execute();
    const names = (await k.selectFrom('kysely_person').select('first_name').where('first_name', 'in', ['Kept', 'Undone']).execute()).map((r) => r.first_name);
    expect(names).toEqual(['Kept']);
    expect(await countPeople()).toBe(before + 1);
  });

  if (backend.name !== 'sqlite') {
    it('honours the isolation level and a read-only access mode', async () => {
      const write = k
        .transaction()
        .setIsolationLevel('serializable')
        .setAccessMode('read only')
        .execute((trx) => trx.insertInto('kysely_person').values({ first_name: 'ReadOnly', gender: 'other' }).execute());
      const error = await write.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueryError);
      // 25006 read_only_sql_transaction; MariaDB 1792 "cannot execute statement in a READ ONLY transaction".
      expect(backend.name === 'postgres' ? (error as QueryError).sqlState : String((error as QueryError).vendorCode)).toBe(backend.name === 'postgres' ? '25006' : '1792');
      if (backend.name === 'postgres') {
        const settings = await k
          .transaction()
          .setIsolationLevel('serializable')
          .execute(async (trx) => (await sql<{ transaction_isolation: string }>`SHOW transaction_isolation`.execute(trx)).rows[0]);
        expect(settings?.transaction_isolation).toBe('serializable');
      }
    });
  } else {
    it('rejects a read-only transaction, which SQLite does not have', async () => {
      const run = k.transaction().setAccessMode('read only').execute(async () => undefined);
      await expect(run).rejects.toBeInstanceOf(UnsupportedFeatureError);
    });
  }

  it("lists the tables with kysely's introspector", async () => {
    const tables = await k.introspection.getTables();
    const person = tables.find((t) => t.name === 'kysely_person');
    expect(person?.columns.map((c) => c.name).sort()).toEqual(['created_at', 'first_name', 'gender', 'id', 'last_name']);
  });

  it("counts kysely's statements in @dal's pool metrics", async () => {
    const before = PoolManager.getPoolStatus(db.config.hash())?.metrics.queries ?? 0;
    await k.selectFrom('kysely_person').selectAll().execute();
    const after = PoolManager.getPoolStatus(db.config.hash())?.metrics.queries ?? 0;
    expect(after).toBe(before + 1);
  });

  it('says stream() is not supported yet', async () => {
    const rows = k.selectFrom('kysely_person').selectAll().stream();
    await expect(rows.next()).rejects.toBeInstanceOf(UnsupportedFeatureError);
  });

  it('cancels a statement past queryExecutionTimeoutMs on the server and rejects with QueryTimeoutError', async () => {
    // SQLite stops a statement only in process mode (inline connections cannot be interrupted).
    const overrides = backend.name === 'sqlite' ? { queryExecutionTimeoutMs: 1_000, driverOptions: { mode: 'process' } } : { queryExecutionTimeoutMs: 1_000 };
    const slowDb = backend.open(`kysely_${backend.name}_timeout`, overrides);
    const slow = new Kysely<DB>({ dialect: new DalDialect({ database: slowDb }) });
    try {
      const marker = uniqueMarker('kysely_timeout');
      const started = Date.now();
      const run = sql.raw(backend.sleepSql(30, marker)).execute(slow).catch((e: unknown) => e);
      // The probe sees the statement while it runs, so its absence afterwards means something.
      if (backend.name !== 'sqlite') expect(await eventually(() => backend.isRunning(marker), 1_000)).toBe(true);
      const error = await run;
      expect(error).toBeInstanceOf(QueryTimeoutError);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await stillTrueAfter(() => backend.isRunning(marker), 3_000)).toBe(false);
      // The pool serves the next statement.
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(slow)).rows.map((r) => Number(r.one))).toEqual([1]);
    } finally {
      await slowDb.close();
    }
  });

  it('rejects with PoolTimeoutError when the only connection is held past connectionAcquisitionTimeoutMs', async () => {
    const smallDb = backend.open(`kysely_${backend.name}_pool`, { poolMin: 1, poolMax: 1, connectionAcquisitionTimeoutMs: 200 });
    const small = new Kysely<DB>({ dialect: new DalDialect({ database: smallDb }) });
    try {
      const held = await smallDb.connection();
      try {
        const started = Date.now();
        await expect(small.selectFrom('kysely_person').selectAll().execute()).rejects.toBeInstanceOf(PoolTimeoutError);
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        await held.release();
      }
      expect(await small.selectFrom('kysely_person').select('id').execute()).toBeInstanceOf(Array);
    } finally {
      await smallDb.close();
    }
  });

  if (backend.name !== 'sqlite') {
    it('cancels the statement on the server when the AbortSignal kysely 0.29 passes aborts', async () => {
      // kysely 0.28 (installed) does not pass signals yet; this drives the connection as 0.29 does.
      const driver = new DalDialect({ database: db }).createDriver();
      const connection = (await driver.acquireConnection()) as DalKyselyConnection;
      try {
        const marker = uniqueMarker('kysely_abort');
        const controller = new AbortController();
        const run = connection.executeQuery(CompiledQuery.raw(backend.sleepSql(30, marker)), { signal: controller.signal }).catch((e: unknown) => e);
        expect(await eventually(() => backend.isRunning(marker), 5_000)).toBe(true);
        controller.abort(new Error('user left'));
        const error = await run;
        expect(error).toBeInstanceOf(AbortedError);
        expect(await stillTrueAfter(() => backend.isRunning(marker), 3_000)).toBe(false);
      } finally {
        await driver.releaseConnection(connection);
      }
    });
  }

  it('refuses a database of another backend than the one it compiles for', async () => {
    const other = backend.name === 'sqlite' ? 'postgres' : 'sqlite';
    const wrong = new Kysely<DB>({ dialect: new DalDialect({ database: db, backend: other }) });
    await expect(wrong.selectFrom('kysely_person').selectAll().execute()).rejects.toBeInstanceOf(ConfigError);
    expect(PoolManager.getPoolStatus(db.config.hash())?.sizes.inUse ?? 0).toBe(0);
  });
});

describe('DalDialect configuration', () => {
  it('needs a Database, and a backend when the config does not name one', async () => {
    expect(() => new DalDialect({} as never)).toThrow(ConfigError);
    const { DatabaseConfig } = await import('@dal/core');
    const { SqliteDatabase } = await import('@dal/driver-sqlite');
    const db = new SqliteDatabase(new DatabaseConfig({ database: ':memory:', alias: 'kysely_no_backend' }));
    expect(() => new DalDialect({ database: db })).toThrow(/pass \{ backend/);
    expect(() => new DalDialect({ database: db, backend: 'oracle' as never })).toThrow(ConfigError);
    const k = new Kysely<{ t: { a: number } }>({ dialect: new DalDialect({ database: db, backend: 'sqlite' }) });
    expect((await sql<{ a: number }>`SELECT 1 AS a`.execute(k)).rows).toEqual([{ a: 1 }]);
    await k.destroy();
    await db.close();
  });

  it('writes PostgreSQL JSONB ? operators so that @dal passes them through', async () => {
    const { DatabaseConfig } = await import('@dal/core');
    const { PostgresDatabase } = await import('@dal/driver-postgres');
    const { postgresUrl } = await import('@dal/test-utils');
    const db = new PostgresDatabase(DatabaseConfig.fromUrl(postgresUrl(), { alias: 'kysely_jsonb' }));
    const k = new Kysely<{ docs: { data: unknown } }>({ dialect: new DalDialect({ database: db }) });
    try {
      const query = k
        .selectFrom(sql<{ data: unknown }>`(SELECT '{"a": 1}'::jsonb AS data)`.as('docs'))
        .select('data')
        .where('data', '?', 'a')
        .where('data', '?|', sql<string[]>`ARRAY['a', 'b']`);
      expect(query.compile().sql).toContain('"data" ?? $1');
      expect(await query.execute()).toEqual([{ data: { a: 1 } }]);
    } finally {
      await k.destroy();
      await db.close();
    }
  });
});
