import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DalError, type Connection, type Database } from '@dal/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyMigrations,
  configureEntities,
  defineEntity,
  MIGRATIONS_TABLE,
  planMigrations,
  type EntityDeclaration,
} from '../src/index.js';
import { entityFixture, expectEntityError, type BackendName, type BuiltinTarget } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'fixtures', 'migrate-child.mjs');
const DIST = join(here, '..', 'dist', 'index.js');

/** Expect `fn` to reject with an EntityError; returns its message. */
async function entityError(fn: () => Promise<unknown>): Promise<string> {
  return (await expectEntityError(fn)).message;
}

interface Column {
  type: string;
  nullable: boolean;
}

/** The columns of `table` as the server's catalog describes them (independent of the package's own catalog queries). */
async function columnsOf(conn: Connection, backend: BackendName, table: string): Promise<Map<string, Column>> {
  const sql = {
    postgres: `SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`,
    mysql: `SELECT column_name AS name, column_type AS type, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?`,
    sqlite: `SELECT name, type, CASE WHEN "notnull" = 1 THEN 'NO' ELSE 'YES' END AS nullable FROM pragma_table_info(?)`,
  }[backend];
  const rows = await conn.execute<{ name: string; type: string; nullable: string }>(sql, [table]);
  return new Map(rows.map((r) => [r.name, { type: String(r.type).toLowerCase(), nullable: r.nullable === 'YES' }]));
}

/** Index name -> [unique, columns in order]. */
async function indexesOf(conn: Connection, backend: BackendName, table: string): Promise<Map<string, { unique: boolean; columns: string[] }>> {
  const out = new Map<string, { unique: boolean; columns: string[] }>();
  if (backend === 'postgres') {
    const rows = await conn.execute<{ name: string; def: string }>(`SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?`, [table]);
    for (const r of rows) {
      const columns = /\((.*)\)$/.exec(r.def)?.[1]?.split(',').map((c) => c.trim().replaceAll('"', '')) ?? [];
      out.set(r.name, { unique: r.def.startsWith('CREATE UNIQUE'), columns });
    }
  } else if (backend === 'mysql') {
    const rows = await conn.execute<{ name: string; non_unique: number; col: string }>(
      `SELECT index_name AS name, non_unique, column_name AS col FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? ORDER BY index_name, seq_in_index`,
      [table],
    );
    for (const r of rows) {
      const entry = out.get(r.name) ?? { unique: Number(r.non_unique) === 0, columns: [] };
      entry.columns.push(r.col);
      out.set(r.name, entry);
    }
  } else {
    const list = await conn.execute<{ name: string; unique: number }>(`SELECT name, "unique" FROM pragma_index_list(?)`, [table]);
    for (const r of list) {
      const cols = await conn.execute<{ name: string }>(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, [r.name]);
      out.set(r.name, { unique: Number(r.unique) === 1, columns: cols.map((c) => c.name) });
    }
  }
  return out;
}

/** Run the migration child process; resolves once it said "ready", with a promise of its output. */
function startChild(target: BuiltinTarget, entity: string, declaration: EntityDeclaration): Promise<{ done: Promise<{ code: number | null; out: string }> }> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ backend: target.name, ...target.location, entity, declaration })], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out: out + err })));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve({ done });
    });
    child.on('close', () => reject(new Error(`child exited before it was ready: ${out}${err}`)));
  });
}

/** Declared schemas, runtimeDdl and migrations, on one backend (a server or SQLite file a child process can open too). */
export function describeDeclaredScenarios(target: BuiltinTarget): void {
  describe(`declared entities and migrations on ${target.name}`, () => {
    const backend = target.name;
    const fixture = entityFixture(target, `declared_${backend}`, async (open, entities) => {
      if ((await columnsOf(open, backend, MIGRATIONS_TABLE)).size === 0) return;
      for (const name of entities) await open.execute(`DELETE FROM [${MIGRATIONS_TABLE}] WHERE [entity] = ?`, [name]);
    });
    const entity = fixture.entity;
    let db: Database;
    let conn: Connection;
    beforeAll(() => {
      ({ db, conn } = fixture);
    });
    const tableExists = async (table: string): Promise<boolean> => (await columnsOf(conn, backend, table)).size > 0;
    const logged = async (name: string): Promise<string[]> =>
      (await conn.execute<{ kind: string }>(`SELECT [kind] FROM [${MIGRATIONS_TABLE}] WHERE [entity] = ? ORDER BY [applied_at]`, [name])).map((r) => r.kind);

    it('a first save creates a declared entity with real column types, NOT NULL, unique and indexes', async () => {
      const users = entity('decl_users');
      defineEntity(users, {
        fields: {
          email: { type: 'text', unique: true, nullable: false },
          department: { type: 'text' },
          age: { type: 'number' },
          active: { type: 'boolean' },
          joined: { type: 'date' },
        },
        indexes: [['department', 'age']],
      });
      const joined = new Date('2024-02-03T04:05:06.789Z');
      const saved = await conn.saveEntity(users, { email: 'ann@example.com', department: 'Eng', age: 30, active: true, joined, nickname: 'ann' });

      const columns = await columnsOf(conn, backend, users);
      const expected = {
        postgres: { email: 'text', department: 'text', age: 'double precision', active: 'boolean', joined: 'timestamp with time zone' },
        mysql: { email: 'varchar(255)', department: 'varchar(255)', age: 'double', active: 'tinyint(1)', joined: 'datetime(6)' },
        sqlite: { email: 'text', department: 'text', age: 'real', active: 'integer', joined: 'text' },
      }[backend];
      for (const [name, type] of Object.entries(expected)) expect(columns.get(name)?.type, name).toBe(type);
      expect(columns.get('email')?.nullable).toBe(false);
      expect(columns.get('department')?.nullable).toBe(true);
      // An undeclared field still gets its column, as without a declaration.
      expect(columns.has('nickname')).toBe(true);
      // The history table has the declared columns, all nullable (versions are copies, not constrained).
      expect((await columnsOf(conn, backend, `${users}_history`)).get('email')?.nullable).toBe(true);

      const indexes = [...(await indexesOf(conn, backend, users)).values()];
      expect(indexes).toContainEqual({ unique: true, columns: ['email'] });
      expect(indexes).toContainEqual({ unique: false, columns: ['department', 'age'] });

      expect(await conn.getEntity(users, saved.id, { deserialize: true })).toMatchObject({ email: 'ann@example.com', age: 30, active: true, joined, nickname: 'ann' });

      // Unique holds for new entities and for updates, and the entity holding the value is left alone
      // (MySQL's upsert would otherwise update whichever row held it).
      const uniqueError = async (data: object): Promise<unknown> => {
        try {
          await conn.saveEntity(users, data);
        } catch (error) {
          return DalError.isInstance(error) && error.code;
        }
        return 'saved';
      };
      expect(await uniqueError({ email: 'ann@example.com', department: 'Sales' })).toBe('DAL_UNIQUE_VIOLATION');
      const bob = await conn.saveEntity(users, { email: 'bob@example.com' });
      expect(await uniqueError({ id: bob.id, email: 'ann@example.com', department: 'Sales' })).toBe('DAL_UNIQUE_VIOLATION');
      expect(await conn.getEntity(users, saved.id)).toMatchObject({ email: 'ann@example.com', department: 'Eng' });
      expect(await conn.getEntity(users, bob.id)).toMatchObject({ email: 'bob@example.com' });
      // The save checks what it can before any statement; the server enforces NOT NULL.
      expect(await entityError(() => conn.saveEntity(users, { department: 'Ops' }))).toMatch(/email.*not nullable/);
      expect(await entityError(() => conn.saveEntity(users, { id: saved.id, email: null }))).toMatch(/email.*not nullable/);
      expect(await entityError(() => conn.saveEntity(users, { email: 'bob@example.com', age: 'thirty' }))).toMatch(/age is declared number; a string value/);
      expect(await conn.countEntities(users)).toBe(2);
      let missing: unknown;
      try {
        await conn.saveEntity(users, { id: 'new-with-given-id', age: 1 });
      } catch (error) {
        missing = error;
      }
      expect(DalError.isInstance(missing) && missing.code).toBe('DAL_NOT_NULL_VIOLATION');
      // A partial update of an existing entity need not carry the non-nullable field.
      await conn.saveEntity(users, { id: saved.id, age: 31 });
      expect(await conn.getEntity(users, saved.id)).toMatchObject({ email: 'ann@example.com', age: 31 });
    });

    it('a strict entity rejects an undeclared field, naming it, and saves nothing', async () => {
      const items = entity('decl_strict');
      defineEntity(items, { fields: { label: { type: 'text' } }, strict: true });
      await conn.saveEntity(items, { label: 'a' });
      expect(await entityError(() => conn.saveEntities(items, [{ label: 'b' }, { label: 'c', colour: 'red' }]))).toMatch(/field "colour" is not declared/);
      expect(await conn.countEntities(items)).toBe(1);
      expect((await columnsOf(conn, backend, items)).has('colour')).toBe(false);
    });

    it('runtimeDdl: false on a database: a save needing DDL names the field and the DDL, and changes nothing', async () => {
      const notes = entity('decl_noddl');
      await conn.saveEntity(notes, { title: 'first' });
      const locked = target.createDatabase(`declared_${backend}_noddl`);
      configureEntities({ runtimeDdl: false }, locked);
      try {
        const message = await entityError(() => locked.withConnection((c) => c.saveEntity(notes, { title: 'second', body: 'text' })));
        expect(message).toMatch(/new field "body"/);
        expect(message).toMatch(new RegExp(`ALTER TABLE .${notes}. ADD COLUMN`));
        expect((await columnsOf(conn, backend, notes)).has('body')).toBe(false);
        expect(await conn.countEntities(notes)).toBe(1);
        // Known fields save as usual: no DDL needed.
        await locked.withConnection((c) => c.saveEntity(notes, { title: 'second' }));
        expect(await conn.countEntities(notes)).toBe(2);

        const fresh = entity('decl_noddl_new');
        expect(await entityError(() => locked.withConnection((c) => c.saveEntity(fresh, { title: 'x' })))).toMatch(/no tables yet.*CREATE TABLE/);
        expect(await tableExists(fresh)).toBe(false);

        // An entity's own setting wins over the database's.
        const allowed = entity('decl_noddl_allowed');
        defineEntity(allowed, { fields: { title: { type: 'text' } }, runtimeDdl: true });
        await locked.withConnection((c) => c.saveEntity(allowed, { title: 'x' }));
        expect(await tableExists(allowed)).toBe(true);
      } finally {
        await locked.close();
      }
    });

    it('runtimeDdl: false on an entity: saves fail until applyMigrations has created it', async () => {
      const orders = entity('decl_orders');
      defineEntity(orders, { fields: { total: { type: 'number', nullable: false } }, runtimeDdl: false });
      expect(await entityError(() => conn.saveEntity(orders, { total: 5 }))).toMatch(/CREATE TABLE/);
      expect(await tableExists(orders)).toBe(false);
      await applyMigrations(db, { entities: [orders] });
      const saved = await conn.saveEntity(orders, { total: 5 });
      expect(await entityError(() => conn.saveEntity(orders, { id: saved.id, coupon: 'X' }))).toMatch(/new field "coupon".*ALTER TABLE/);
      expect(await conn.getEntity(orders, saved.id)).not.toHaveProperty('coupon');
    });

    it('planMigrations is a dry run; applyMigrations applies, records each step, and then has nothing to do', async () => {
      const people = entity('decl_people');
      defineEntity(people, { fields: { name: { type: 'text', nullable: false }, department: { type: 'text' } } });
      const plan = await planMigrations(db, { entities: [people] });
      expect(plan.steps.map((s) => s.kind)).toEqual(['create-entity']);
      expect(plan.steps[0]!.sql.join('\n')).toMatch(new RegExp(`CREATE TABLE IF NOT EXISTS .${people}.`));
      expect(await tableExists(people)).toBe(false);

      expect((await applyMigrations(db, { entities: [people] })).applied.map((s) => s.kind)).toEqual(['create-entity']);
      expect(await logged(people)).toEqual(['create-entity']);
      expect((await planMigrations(db, { entities: [people] })).steps).toEqual([]);
      expect((await applyMigrations(db, { entities: [people] })).applied).toEqual([]);

      // The declaration grows: a new field, a field becoming NOT NULL, an index.
      await conn.saveEntities(people, [{ name: 'Ann', department: 'Eng' }, { name: 'Bob', department: 'Ops' }]);
      defineEntity(people, {
        fields: { name: { type: 'text', nullable: false }, department: { type: 'text', nullable: false }, level: { type: 'number' } },
        indexes: [['department', 'level']],
      });
      const grown = await planMigrations(db, { entities: [people] });
      const kinds = grown.steps.map((s) => `${s.kind}:${s.target}`);
      expect(kinds).toContain('add-field:level');
      expect(kinds).toContain(`add-index:dal_ix_${people}_department_level`);
      if (backend === 'sqlite') {
        expect(grown.skipped.map((s) => s.description)).toContain(`make ${people}.department NOT NULL`);
      } else {
        expect(kinds).toContain('set-not-null:department');
      }
      const { applied } = await applyMigrations(db, { entities: [people] });
      expect(applied).toHaveLength(grown.steps.length);
      expect(await logged(people)).toHaveLength(1 + grown.steps.length);
      const columns = await columnsOf(conn, backend, people);
      expect(columns.has('level')).toBe(true);
      if (backend !== 'sqlite') expect(columns.get('department')?.nullable).toBe(false);
      expect([...(await indexesOf(conn, backend, people)).values()]).toContainEqual({ unique: false, columns: ['department', 'level'] });
      expect((await planMigrations(db, { entities: [people] })).steps).toEqual([]);
    });

    it('a NOT NULL step fails while rows hold null, with an EntityError', async () => {
      const tasks = entity('decl_tasks');
      await conn.saveEntities(tasks, [{ title: 'a', owner: 'ann' }, { title: 'b' }]);
      defineEntity(tasks, { fields: { title: { type: 'text' }, due: { type: 'date' }, owner: { type: 'text', nullable: false } } });
      const plan = await planMigrations(db, { entities: [tasks] });
      if (backend === 'sqlite') {
        expect(plan.skipped.map((s) => s.description)).toContain(`make ${tasks}.owner NOT NULL`);
        return;
      }
      expect(plan.steps.map((s) => s.kind)).toEqual(['add-field', 'set-not-null']);
      expect(await entityError(() => applyMigrations(db, { entities: [tasks] }))).toMatch(/owner: 1 row\(s\) hold null/);
      // PostgreSQL rolls the whole migration back; MySQL's DDL committed step by step.
      expect((await columnsOf(conn, backend, tasks)).has('due')).toBe(backend === 'mysql');
      expect(await logged(tasks)).toEqual(backend === 'mysql' ? ['add-field'] : []);
    });

    it('renames and drops happen only with explicit flags', async () => {
      const staff = entity('decl_staff');
      defineEntity(staff, { fields: { fullname: { type: 'text' }, age: { type: 'number' } }, indexes: [['age']] });
      const ann = await conn.saveEntity(staff, { fullname: 'Ann Smith', age: 30, legacy: 'x' });
      defineEntity(staff, { fields: { name: { type: 'text' }, age: { type: 'number' } }, strict: true });

      const additive = await planMigrations(db, { entities: [staff] });
      expect(additive.steps.map((s) => `${s.kind}:${s.target}`)).toEqual(['add-field:name']);
      expect(additive.skipped.map((s) => s.description).sort()).toEqual([`drop ${staff}.fullname`, `drop ${staff}.legacy`, `drop index dal_ix_${staff}_age of ${staff}`].sort());

      const renames = { [`${staff}.fullname`]: 'name' };
      const renamed = await planMigrations(db, { entities: [staff], renames });
      expect(renamed.steps.map((s) => s.kind)).toEqual(['rename-field']);
      await applyMigrations(db, { entities: [staff], renames });
      expect(await conn.getEntity(staff, ann.id)).toMatchObject({ name: 'Ann Smith', age: 30 });
      expect((await conn.getEntityHistory(staff, ann.id))[0]).toMatchObject({ name: 'Ann Smith' });
      expect((await columnsOf(conn, backend, staff)).has('fullname')).toBe(false);

      const drops = await planMigrations(db, { entities: [staff], allowDrop: true });
      expect(drops.steps.map((s) => `${s.kind}:${s.target}`)).toEqual([`drop-index:dal_ix_${staff}_age`, 'drop-field:legacy']);
      await applyMigrations(db, { entities: [staff], allowDrop: true });
      expect((await columnsOf(conn, backend, staff)).has('legacy')).toBe(false);
      // The history keeps the dropped field's past values.
      expect((await conn.getEntityHistory(staff, ann.id))[0]).toMatchObject({ legacy: 'x' });
      expect([...(await indexesOf(conn, backend, staff)).keys()]).not.toContain(`dal_ix_${staff}_age`);
      await conn.saveEntity(staff, { id: ann.id, name: 'Ann Jones' });
      expect((await planMigrations(db, { entities: [staff], allowDrop: true })).steps).toEqual([]);
    });

    it('a declared type the stored data contradicts is an EntityError naming the field', async () => {
      const things = entity('decl_conflict');
      await conn.saveEntity(things, { size: 'large' });
      defineEntity(things, { fields: { size: { type: 'number' } } });
      expect(await entityError(() => planMigrations(db, { entities: [things] }))).toMatch(/size is declared number but the database stores it as string/);
      expect(await entityError(() => conn.saveEntity(things, { size: 3 }))).toMatch(/size is declared number but the database stores it as string/);
    });

    it('applyMigrations from two processes at once: one applies, the other waits and finds it applied', async () => {
      if (!existsSync(DIST) || !readFileSync(DIST, 'utf8').includes('applyMigrations')) {
        throw new Error(`the migration test runs the built package in child processes: build it first (pnpm --filter @dal/entities build)`);
      }
      const shared = entity('decl_concurrent');
      const declaration: EntityDeclaration = { fields: { email: { type: 'text', unique: true }, score: { type: 'number' } }, indexes: [['score']] };
      // Hold the migration lock so that both children are waiting on it at the same time.
      const holder = await db.connection();
      try {
        if (backend === 'postgres') await holder.execute("SELECT pg_advisory_lock(hashtext('dal_entities:migrations'))");
        else if (backend === 'mysql') expect(Number((await holder.executeFirst<{ ok: unknown }>("SELECT GET_LOCK('dal_entities:migrations', 10) AS ok"))?.ok)).toBe(1);
        else await holder.beginTransaction();
        const children = await Promise.all([startChild(target, shared, declaration), startChild(target, shared, declaration)]);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(await tableExists(shared)).toBe(false);
        if (backend === 'postgres') await holder.execute("SELECT pg_advisory_unlock(hashtext('dal_entities:migrations'))");
        else if (backend === 'mysql') await holder.execute("SELECT RELEASE_LOCK('dal_entities:migrations')");
        else await holder.commitTransaction();
        const results = await Promise.all(children.map((c) => c.done));
        for (const r of results) expect(r.code, r.out).toBe(0);
        const applied = results.map((r) => (JSON.parse(r.out.trim().split('\n').at(-1)!) as { applied: string[] }).applied).sort((a, b) => b.length - a.length);
        expect(applied).toEqual([['create-entity'], []]);
      } finally {
        if (holder.inTransaction()) await holder.rollbackTransaction();
        await holder.release();
      }
      expect(await logged(shared)).toEqual(['create-entity']);
      expect([...(await indexesOf(conn, backend, shared)).values()]).toContainEqual({ unique: true, columns: ['email'] });
    });
  });
}
