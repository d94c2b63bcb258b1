import { EntityError } from '@dal/core';

/** A plain identifier: what entity and field names must look like. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Entity names leave room for the `_history` suffix within PostgreSQL's 63-byte limit. */
const ENTITY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,54}$/;
const DERIVED_SUFFIX = /_(history|meta)$/i;
const RESERVED_PREFIX = /^_dal_/i;

/** Columns every entity table has, managed by the framework. */
export const SYSTEM_FIELDS = ['id', 'created_at', 'updated_at', 'created_by', 'updated_by', 'deleted_at'] as const;
/** Extra columns of a history table. */
export const HISTORY_FIELDS = ['version', 'history_timestamp', 'history_user_id', 'history_comment'] as const;
/** Hidden column holding the per-row value types of fields whose type changed over time. */
export const TYPES_COLUMN = '_dal_types';
/** Prefix of SQLite's exact-text copies of 64-bit integer columns in a select list. */
export const BIGINT_TEXT_PREFIX = '_dal_bigtext_';

const RESERVED = new Set<string>([...SYSTEM_FIELDS, ...HISTORY_FIELDS]);
const RESERVED_LOWER = new Set<string>([...RESERVED].map((name) => name.toLowerCase()));

/** Table names derived from an entity name. */
export interface EntityTables {
  readonly main: string;
  readonly history: string;
  readonly meta: string;
}

/**
 * Check an entity name and derive its table names.
 * @throws {EntityError} when the name is not a plain identifier of at most 55 characters, or ends in `_history`/`_meta`.
 */
export function entityTables(entity: unknown): EntityTables {
  if (typeof entity !== 'string' || !ENTITY_NAME.test(entity)) {
    throw new EntityError('entity name must be a plain identifier: a letter or underscore, then letters, digits or underscores, at most 55 characters');
  }
  if (DERIVED_SUFFIX.test(entity) || RESERVED_PREFIX.test(entity)) {
    throw new EntityError(`entity name "${entity}" is reserved: names ending in _history or _meta, or starting with _dal_, name the framework's own tables`);
  }
  return { main: entity, history: `${entity}_history`, meta: `${entity}_meta` };
}

/** True for a system or history field, which a save ignores (the framework sets them). */
export function isSystemField(name: string): boolean {
  return RESERVED.has(name);
}

/**
 * Check a field name given in an entity.
 * @throws {EntityError} when it is not a plain identifier, uses the `_dal_` prefix, or differs from a system field only by case.
 */
export function checkFieldName(entity: string, name: string): void {
  if (!IDENTIFIER.test(name)) {
    throw new EntityError(`${entity}: field names must be plain identifiers (a letter or underscore, then letters, digits or underscores, at most 63 characters)`);
  }
  if (RESERVED_PREFIX.test(name)) throw new EntityError(`${entity}: field "${name}" uses the reserved prefix _dal_`);
  if (!RESERVED.has(name) && RESERVED_LOWER.has(name.toLowerCase())) {
    throw new EntityError(`${entity}: field "${name}" differs from a system field only by case, which MySQL and SQLite cannot tell apart`);
  }
}

/** True when `name` looks like a column name (used before looking it up in the schema). */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}
