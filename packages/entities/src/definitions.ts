import { ConfigError, EntityError } from '@dal/core';
import { checkFieldName, entityTables, isSystemField, SYSTEM_FIELDS } from './names.js';
import type { FieldType } from './serializers.js';

/** The column types a declared field may have. `text` is the field type `string`. */
export type DeclaredType = 'text' | 'number' | 'bigint' | 'boolean' | 'date' | 'json' | `custom:${string}`;

/** One declared field of `defineEntity`. */
export interface FieldDeclaration {
  type: DeclaredType;
  /** Unique across the table (a unique index; soft-deleted rows still hold their value). Default false. */
  unique?: boolean;
  /** False adds NOT NULL; saves that would store null fail early with `EntityError`. Default true. */
  nullable?: boolean;
  /** Most characters of a `text` field; on MySQL the column becomes VARCHAR(maxLength). */
  maxLength?: number;
}

/** The second argument of `defineEntity`. */
export interface EntityDeclaration {
  fields: Record<string, FieldDeclaration>;
  /** Indexes over declared or system fields, each a list of field names in index order. */
  indexes?: readonly (readonly string[])[];
  /** Reject saves carrying a field that is not declared (default false: such fields are added as usual). */
  strict?: boolean;
  /** Create tables and columns on save (default: the database's setting, see `configureEntities`). */
  runtimeDdl?: boolean;
}

/** A declared field, checked and resolved. */
export interface DeclaredField {
  readonly name: string;
  readonly type: FieldType;
  readonly unique: boolean;
  readonly nullable: boolean;
  readonly maxLength: number | undefined;
  /** Part of an index or unique: MySQL then needs a bounded VARCHAR instead of LONGTEXT. */
  readonly keyed: boolean;
}

/** A declared index, with its deterministic name. */
export interface DeclaredIndex {
  readonly name: string;
  readonly columns: readonly string[];
  readonly unique: boolean;
}

/** What `defineEntity` returns and registers. */
export interface EntityDefinition {
  readonly name: string;
  readonly fields: ReadonlyMap<string, DeclaredField>;
  readonly indexes: readonly DeclaredIndex[];
  readonly strict: boolean;
  readonly runtimeDdl: boolean | undefined;
}

const DECLARED_TYPES: Record<string, FieldType> = { text: 'string', number: 'number', bigint: 'bigint', boolean: 'boolean', date: 'date', json: 'json' };
const CUSTOM_TYPE = /^custom:[A-Za-z_][A-Za-z0-9_.-]{0,79}$/;
/** Prefix of index names the framework owns (and may drop with `allowDrop`). */
export const INDEX_PREFIX = { plain: 'dal_ix_', unique: 'dal_ux_' } as const;
const MAX_INDEX_NAME = 63;

const definitions = new Map<string, EntityDefinition>();

function hash8(text: string): string {
  let hash = 0x811c9dc5;
  for (const ch of text) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** `dal_ix_<entity>_<columns>`, shortened with a hash of the full name past 63 characters (PostgreSQL's limit). */
export function indexName(entity: string, columns: readonly string[], unique: boolean): string {
  const prefix = unique ? INDEX_PREFIX.unique : INDEX_PREFIX.plain;
  const full = `${prefix}${entity}_${columns.join('_')}`;
  if (full.length <= MAX_INDEX_NAME) return full;
  return `${full.slice(0, MAX_INDEX_NAME - 9)}_${hash8(full)}`;
}

function declaredType(entity: string, field: string, type: unknown): FieldType {
  if (typeof type === 'string') {
    const known = DECLARED_TYPES[type];
    if (known !== undefined) return known;
    if (CUSTOM_TYPE.test(type)) return type as FieldType;
  }
  throw new EntityError(`${entity}.${field}: type must be one of ${Object.keys(DECLARED_TYPES).join(', ')} or custom:<Name>, got ${JSON.stringify(type)}`);
}

function optionalBoolean(entity: string, what: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new EntityError(`${entity}: ${what} must be a boolean`);
  return value;
}

/**
 * Declare an entity's fields: they get real column types, NOT NULL and unique constraints and
 * indexes (created with the tables by a first save, or by `applyMigrations`). Registers the
 * declaration for this process (replacing an earlier one of the same name) and returns it.
 *
 * ```ts
 * defineEntity('users', {
 *   fields: { email: { type: 'text', unique: true, nullable: false }, department: { type: 'text' }, age: { type: 'number' } },
 *   indexes: [['department', 'age']],
 * });
 * ```
 * @throws {EntityError} for a bad entity or field name, an unknown type, an index over an undeclared field, or a malformed option.
 */
export function defineEntity(name: string, declaration: EntityDeclaration): EntityDefinition {
  entityTables(name);
  if (typeof declaration !== 'object' || declaration === null || typeof declaration.fields !== 'object' || declaration.fields === null) {
    throw new EntityError(`${name}: defineEntity needs { fields: { name: { type } } }`);
  }
  const strict = optionalBoolean(name, 'strict', declaration.strict) ?? false;
  const runtimeDdl = optionalBoolean(name, 'runtimeDdl', declaration.runtimeDdl);
  const rawIndexes = declaration.indexes ?? [];
  if (!Array.isArray(rawIndexes)) throw new EntityError(`${name}: indexes must be an array of field-name arrays`);

  const keyedFields = new Set<string>();
  const indexes: DeclaredIndex[] = [];
  const seen = new Set<string>();
  const addIndex = (columns: readonly string[], unique: boolean): void => {
    const index: DeclaredIndex = { name: indexName(name, columns, unique), columns, unique };
    if (seen.has(index.name)) return;
    seen.add(index.name);
    indexes.push(index);
    for (const column of columns) keyedFields.add(column);
  };

  const entries = Object.entries(declaration.fields);
  const lower = new Set<string>();
  for (const [field, raw] of entries) {
    checkFieldName(name, field);
    if (lower.has(field.toLowerCase())) throw new EntityError(`${name}: field "${field}" differs from another declared field only by case`);
    lower.add(field.toLowerCase());
    if (isSystemField(field)) throw new EntityError(`${name}.${field}: system fields are managed by the framework and cannot be declared`);
    if (typeof raw !== 'object' || raw === null) throw new EntityError(`${name}.${field}: a field declaration must be an object with a type`);
    if (optionalBoolean(name, `${field}.unique`, raw.unique) === true) addIndex([field], true);
  }
  for (const columns of rawIndexes) {
    if (!Array.isArray(columns) || columns.length === 0) throw new EntityError(`${name}: each index must be a non-empty array of field names`);
    for (const column of columns) {
      const declared = typeof column === 'string' && (column in declaration.fields || (SYSTEM_FIELDS as readonly string[]).includes(column));
      if (!declared) throw new EntityError(`${name}: index [${columns.join(', ')}] names "${String(column)}", which is neither a declared field nor a system field`);
    }
    if (new Set(columns).size !== columns.length) throw new EntityError(`${name}: index [${columns.join(', ')}] names a field twice`);
    addIndex([...columns], false);
  }

  const fields = new Map<string, DeclaredField>();
  for (const [field, raw] of entries) {
    const type = declaredType(name, field, raw.type);
    const nullable = optionalBoolean(name, `${field}.nullable`, raw.nullable) ?? true;
    const maxLength = raw.maxLength;
    if (maxLength !== undefined) {
      if (type !== 'string') throw new EntityError(`${name}.${field}: maxLength applies to text fields only`);
      if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1 || maxLength > 16_383) {
        throw new EntityError(`${name}.${field}: maxLength must be an integer from 1 to 16383`);
      }
    }
    fields.set(field, Object.freeze({ name: field, type, unique: raw.unique === true, nullable, maxLength, keyed: keyedFields.has(field) }));
  }
  const definition: EntityDefinition = Object.freeze({ name, fields, indexes: Object.freeze(indexes), strict, runtimeDdl });
  definitions.set(name, definition);
  return definition;
}

/** The registered declaration of `entity`, if any. */
export function definitionOf(entity: string): EntityDefinition | undefined {
  return definitions.get(entity);
}

/** Every registered declaration, in registration order. */
export function definedEntities(): EntityDefinition[] {
  return [...definitions.values()];
}

/** Forget a declaration (mostly for tests). Returns whether there was one. */
export function forgetEntity(entity: string): boolean {
  return definitions.delete(entity);
}

/** What a database setting can be keyed by: a Database, a Connection or a DatabaseConfig. */
export type DatabaseRef = { readonly config: { hash(): string } } | { hash(): string };

/** The config hash of a database reference (the schema cache's key). */
export function databaseKey(ref: DatabaseRef): string {
  if (typeof (ref as { hash?: unknown }).hash === 'function') return (ref as { hash(): string }).hash();
  const config = (ref as { config?: { hash?: unknown } }).config;
  if (config !== undefined && typeof config.hash === 'function') return (config as { hash(): string }).hash();
  throw new ConfigError('expected a Database, Connection or DatabaseConfig');
}
