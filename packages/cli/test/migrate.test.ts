/**
 * `dal migrate plan|apply --entities <module>` on SQLite and PostgreSQL: the plan is a dry run
 * with SQL, apply creates what is declared once, and a second apply finds nothing to do.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerDatabase, dal, tempDir, uniqueName, type ServerDatabase } from './helpers.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const ENTITIES = fixture('entities.mjs');

describe('dal migrate', () => {
  const dir = tempDir();
  let pg: ServerDatabase;

  beforeAll(async () => {
    pg = await createServerDatabase('postgres', uniqueName('dal_cli_migrate'));
  });
  afterAll(async () => {
    await pg?.drop();
    dir.remove();
  });

  it.each([
    ['sqlite', () => `sqlite:${join(dir.path, 'migrate.db')}`],
    ['postgres', () => pg.url],
  ])('%s: plan shows the steps with SQL and changes nothing; apply runs them once', async (_backend, url) => {
    const plan = await dal(['migrate', 'plan', url(), '--entities', ENTITIES]);
    expect(plan.stderr).toContain('step(s) to apply: run dal migrate apply');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^planned cli_customers: /m);
    expect(plan.stdout).toMatch(/^ {4}CREATE TABLE .*cli_customers/m);
    expect(plan.stdout).toMatch(/^ {4}CREATE UNIQUE INDEX .*dal_ux_cli_customers_email/m);

    // A dry run: planning again gives the same steps.
    const again = await dal(['migrate', 'plan', url(), '--entities', ENTITIES]);
    expect(again.stdout).toBe(plan.stdout);

    const apply = await dal(['migrate', 'apply', url(), '--entities', ENTITIES]);
    expect(apply.code).toBe(0);
    expect(apply.stdout.replace(/^applied/gm, 'planned')).toBe(plan.stdout);
    expect(apply.stderr).toMatch(/^applied \d+ step\(s\)$/m);

    const second = await dal(['migrate', 'apply', url(), '--entities', ENTITIES]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('');
    expect(second.stderr).toContain('nothing to apply: the database matches the declared entities');

    const status = await dal(['status', url()]);
    expect(status.stdout).toMatch(/^cli_customers\s+cli_customers\s+0$/m);
  });

  it('a module that cannot be found, declares nothing, or declares badly fails with one line', async () => {
    const url = `sqlite:${join(dir.path, 'bad.db')}`;
    const missing = await dal(['migrate', 'plan', url, '--entities', fixture('nope.mjs')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error DAL_CONFIG: cannot load the entities module .*nope\.mjs/);

    const empty = await dal(['migrate', 'plan', url, '--entities', fixture('no-entities.mjs')]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^error DAL_CONFIG: the entities module .*no-entities\.mjs declares no entities/);

    const broken = await dal(['migrate', 'apply', url, '--entities', fixture('broken.mjs')]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^error DAL_ENTITY: cli_bad\.id: system fields are managed by the framework/);
    for (const run of [missing, empty, broken]) expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--rename takes old=new', async () => {
    const { code, stderr } = await dal(['migrate', 'plan', 'sqlite::memory:', '--entities', ENTITIES, '--rename', 'nonsense']);
    expect(code).toBe(2);
    expect(stderr).toContain('--rename takes old=new or entity.old=new, got "nonsense"');
  });
});
