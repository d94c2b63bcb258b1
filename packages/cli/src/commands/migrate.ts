import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, EntityError } from '@dal/core';
import { applyMigrations, definedEntities, planMigrations, type EntityDefinition, type MigrationOptions, type MigrationStep, type SkippedChange } from '@dal/entities';
import { numberOption, UsageError, type CommandSpec, type OptionSpec, type OptionValues } from '../command.js';
import type { Output } from '../output.js';

const MIGRATE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  entities: { type: 'string', value: 'module', description: 'the module (.js/.mjs/.cjs) that declares the entities with defineEntity (required)' },
  'allow-drop': { type: 'boolean', description: 'also drop undeclared fields of strict entities and indexes no longer declared' },
  rename: { type: 'string', value: 'old=new', multiple: true, description: 'rename a field instead of adding a new one (entity.old=new or old=new)' },
};

export const migratePlanCommand: CommandSpec = {
  name: 'migrate plan',
  summary: 'show the steps (and their SQL) that bring the database in line with the declared entities',
  usage: 'dal migrate plan <url> --entities <module> [--allow-drop] [--rename entity.old=new]',
  description:
    'A dry run: loads the module, compares the entities it declares with the database, and prints\n' +
    'each step with its SQL, and the changes it leaves alone with the reason. Changes nothing.',
  positionals: ['url'],
  options: MIGRATE_OPTIONS,
  examples: ['dal migrate plan postgres://app@db/app --entities ./dist/entities.js'],
  async run([url], values, context) {
    const options = await migrationOptions(values);
    const plan = await planMigrations(context.open(url!), options);
    printSteps(context.output, plan.steps, 'planned');
    printSkipped(context.output, plan.skipped);
    context.output.note(plan.steps.length === 0 ? 'the database matches the declared entities' : `${plan.steps.length} step(s) to apply: run dal migrate apply`);
    return 0;
  },
};

export const migrateApplyCommand: CommandSpec = {
  name: 'migrate apply',
  summary: 'apply those steps, once, even when several processes run it at the same time',
  usage: 'dal migrate apply <url> --entities <module> [--allow-drop] [--rename entity.old=new] [--lock-wait seconds]',
  description:
    'Runs the plan with lock timeouts and records each applied step in the _dal_migrations table.\n' +
    'When another process is migrating, waits for it (--lock-wait) and then finds nothing left to do.\n' +
    'Additive unless --allow-drop or --rename say otherwise.',
  positionals: ['url'],
  options: {
    ...MIGRATE_OPTIONS,
    'lock-wait': { type: 'string', value: 'seconds', description: "how long to wait for another process's migration (default 60)" },
  },
  examples: ['dal migrate apply postgres://app@db/app --entities ./dist/entities.js'],
  async run([url], values, context) {
    const options = await migrationOptions(values);
    const lockWait = numberOption(values, 'lock-wait');
    const result = await applyMigrations(context.open(url!), { ...options, ...(lockWait === undefined ? {} : { lockWaitMs: lockWait * 1000 }) });
    printSteps(context.output, result.applied, 'applied');
    printSkipped(context.output, result.skipped);
    context.output.note(result.applied.length === 0 ? 'nothing to apply: the database matches the declared entities' : `applied ${result.applied.length} step(s)`);
    return 0;
  },
};

async function migrationOptions(values: OptionValues): Promise<MigrationOptions> {
  const module = values['entities'];
  if (typeof module !== 'string' || module === '') throw new UsageError('--entities <module> is required');
  const renames: Record<string, string> = {};
  for (const rename of (values['rename'] as string[] | undefined) ?? []) {
    const [from, to, ...rest] = rename.split('=');
    if (from === undefined || from === '' || to === undefined || to === '' || rest.length > 0) throw new UsageError(`--rename takes old=new or entity.old=new, got "${rename}"`);
    renames[from] = to;
  }
  return {
    entities: await loadEntities(module),
    ...(values['allow-drop'] === true ? { allowDrop: true } : {}),
    ...(Object.keys(renames).length === 0 ? {} : { renames }),
  };
}

/**
 * Import the user's module and collect what it declares: the definitions it exports (found even
 * when the module uses another copy of @dal/entities than the CLI, whose registry the CLI cannot
 * see), and those registered with the CLI's own copy.
 * @throws {ConfigError} when the module cannot be loaded or declares nothing.
 */
async function loadEntities(module: string): Promise<EntityDefinition[]> {
  const path = resolve(module);
  let moduleExports: Record<string, unknown>;
  try {
    moduleExports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof EntityError) throw error; // a defineEntity call in it rejected its declaration
    const reason = (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' ? (error as Error).message.split('\n')[0] : `${(error as Error).name}: ${(error as Error).message}`;
    throw new ConfigError(`cannot load the entities module ${path}: ${reason}`);
  }
  const found = new Map<string, EntityDefinition>();
  for (const definition of definedEntities()) found.set(definition.name, definition);
  for (const value of Object.values(moduleExports).flatMap((v) => (Array.isArray(v) ? v : [v]))) {
    if (isDefinition(value)) found.set(value.name, value);
  }
  if (found.size === 0) throw new ConfigError(`the entities module ${path} declares no entities: call defineEntity in it (and export what it returns)`);
  return [...found.values()];
}

function isDefinition(value: unknown): value is EntityDefinition {
  const candidate = value as Partial<EntityDefinition> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.name === 'string' && candidate.fields instanceof Map && Array.isArray(candidate.indexes);
}

function printSteps(output: Output, steps: readonly MigrationStep[], verb: string): void {
  for (const step of steps) {
    output.line(`${verb} ${step.entity}: ${step.description}`);
    for (const sql of step.sql) output.line(`    ${sql};`);
  }
}

function printSkipped(output: Output, skipped: readonly SkippedChange[]): void {
  for (const change of skipped) output.line(`skipped ${change.entity}: ${change.description} (${change.reason})`);
}
