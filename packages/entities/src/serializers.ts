import { EntityError } from '@dal/core';

/**
 * The type recorded for a field: one of the built-in kinds, `custom:<Name>` for a registered
 * serializer, `null` while only nulls were saved, `mixed` once values of several types were saved.
 */
export type FieldType = 'string' | 'number' | 'bigint' | 'boolean' | 'date' | 'json' | 'null' | 'mixed' | `custom:${string}`;

/** How a value of a registered type is recognised, stored and read back. */
export interface SerializerOptions {
  /** Recognises values of this type; by default, instances whose constructor is named like the type. */
  test?: (value: unknown) => boolean;
}

interface Serializer {
  readonly name: string;
  readonly serialize: (value: never) => string;
  readonly deserialize: (text: string) => unknown;
  readonly test: ((value: unknown) => boolean) | undefined;
}

const SERIALIZER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,79}$/;
const serializers = new Map<string, Serializer>();
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Register a type that entities may hold. Values are stored as the string `serialize` returns
 * and, with `deserialize: true`, read back through `deserialize`. Registration is process-wide.
 *
 * ```ts
 * registerSerializer('Money', (m: Money) => `${m.amount} ${m.currency}`, (s) => Money.parse(s));
 * registerSerializer('Point', (p) => JSON.stringify(p), (s) => JSON.parse(s), { test: (v) => isPoint(v) });
 * ```
 * @throws {EntityError} when the name is not a plain name of at most 80 characters or a function is missing.
 */
export function registerSerializer<T>(
  name: string,
  serialize: (value: T) => string,
  deserialize: (text: string) => T,
  options: SerializerOptions = {},
): void {
  if (typeof name !== 'string' || !SERIALIZER_NAME.test(name)) {
    throw new EntityError('serializer names must be plain names (letters, digits, _ . -), at most 80 characters');
  }
  if (typeof serialize !== 'function' || typeof deserialize !== 'function') {
    throw new EntityError(`serializer ${name}: serialize and deserialize must be functions`);
  }
  if (options.test !== undefined && typeof options.test !== 'function') throw new EntityError(`serializer ${name}: test must be a function`);
  // Re-registering replaces, so the newest test wins its place at the end of the lookup order.
  serializers.delete(name);
  serializers.set(name, { name, serialize: serialize as (value: never) => string, deserialize, test: options.test });
}

/** Remove a registered type (mostly for tests). Returns whether it was registered. */
export function unregisterSerializer(name: string): boolean {
  return serializers.delete(name);
}

function customSerializerFor(value: object): Serializer | undefined {
  for (const serializer of serializers.values()) {
    if (serializer.test !== undefined && serializer.test(value)) return serializer;
  }
  const ctorName = (value as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof ctorName !== 'string') return undefined;
  const byName = serializers.get(ctorName);
  return byName !== undefined && byName.test === undefined ? byName : undefined;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A value with its detected type and its two storable forms, computed on demand. */
export interface ClassifiedValue {
  readonly type: FieldType;
  /** The value as bound to a column of the field's own type. */
  readonly param: unknown;
  /** The value as text, for columns that hold several types. */
  readonly text: string | null;
}

/**
 * Detect a value's field type and prepare it for storage.
 * @throws {EntityError} for values that cannot be stored: NaN/Infinity, invalid dates,
 *   bigints beyond 64 bits, circular or non-JSON objects, and class instances without a serializer.
 */
export function classify(entity: string, field: string, value: unknown): ClassifiedValue {
  if (value === null || value === undefined) return { type: 'null', param: null, text: null };
  if (typeof value === 'object' || typeof value === 'function') {
    const custom = customSerializerFor(value);
    if (custom !== undefined) {
      let text: unknown;
      try {
        text = custom.serialize(value as never);
      } catch (error) {
        throw new EntityError(`${entity}.${field}: serializer ${custom.name} failed`, { cause: error });
      }
      if (typeof text !== 'string') throw new EntityError(`${entity}.${field}: serializer ${custom.name} must return a string`);
      return { type: `custom:${custom.name}`, param: text, text };
    }
  }
  switch (typeof value) {
    case 'string':
      return { type: 'string', param: value, text: value };
    case 'number':
      if (!Number.isFinite(value)) throw new EntityError(`${entity}.${field}: NaN and Infinity cannot be stored (MySQL has no such values)`);
      return { type: 'number', param: value, text: String(value) };
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new EntityError(`${entity}.${field}: bigint values must fit in 64 bits`);
      return { type: 'bigint', param: value, text: value.toString() };
    case 'boolean':
      return { type: 'boolean', param: value, text: value ? 'true' : 'false' };
    case 'object': {
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new EntityError(`${entity}.${field}: invalid Date`);
        return { type: 'date', param: value, text: value.toISOString() };
      }
      if (Array.isArray(value) || isPlainObject(value)) {
        let json: string;
        try {
          json = JSON.stringify(value);
        } catch (error) {
          throw new EntityError(`${entity}.${field}: the object cannot be stored as JSON (circular, or holds a bigint)`, { cause: error });
        }
        return { type: 'json', param: json, text: json };
      }
      const ctorName = (value as { constructor?: { name?: unknown } }).constructor?.name;
      const what = typeof ctorName === 'string' && /^[A-Za-z_$][\w$]{0,60}$/.test(ctorName) ? `a ${ctorName} instance` : 'this object';
      throw new EntityError(`${entity}.${field}: ${what} cannot be stored; register a serializer for it with registerSerializer()`);
    }
    default:
      throw new EntityError(`${entity}.${field}: a ${typeof value} cannot be stored`);
  }
}

/**
 * A query parameter as the drivers bind it: registered custom types become their stored
 * string, everything else passes unchanged (drivers already bind strings, numbers, bigints,
 * booleans and Dates alike on every backend).
 */
export function toQueryParam(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Date || Array.isArray(value)) return value;
  const custom = customSerializerFor(value);
  return custom === undefined ? value : custom.serialize(value as never);
}

const SQL_DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/;

function toDate(value: unknown): unknown {
  if (value instanceof Date || value === null) return value;
  if (typeof value === 'string') {
    // MySQL's DATETIME text has no zone; every @dal driver stores UTC.
    const date = new Date(SQL_DATETIME.test(value) ? `${value.replace(' ', 'T')}Z` : value);
    return Number.isNaN(date.getTime()) ? value : date;
  }
  if (typeof value === 'number') return new Date(value);
  return value;
}

function toBoolean(value: unknown): unknown {
  if (typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return value !== 0 && value !== 0n;
  if (typeof value === 'string') return value === 'true' || value === '1' || value === 't';
  return value;
}

function toBigInt(value: unknown): unknown {
  if (typeof value === 'bigint' || value === null) return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return value;
}

/**
 * Turn a stored value back into a value of `type`. Stored forms differ by backend (1/0 or
 * true/false, Date or ISO text, number or text); every form a backend may return is accepted.
 */
export function fromStored(type: FieldType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : String(value);
    case 'number':
      return typeof value === 'number' ? value : Number(value);
    case 'bigint':
      return toBigInt(value);
    case 'boolean':
      return toBoolean(value);
    case 'date':
      return toDate(value);
    case 'json':
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    case 'null':
    case 'mixed':
      return value;
    default: {
      const serializer = serializers.get(type.slice('custom:'.length));
      // Without its serializer (not registered in this process), the stored text is all we have.
      return serializer === undefined ? value : serializer.deserialize(String(value));
    }
  }
}

/** Convert a system timestamp column (created_at, ...) to a Date. */
export function systemDate(value: unknown): unknown {
  return toDate(value);
}

/** True for a known field type string (guards what is read from the metadata table). */
export function isFieldType(value: unknown): value is FieldType {
  if (typeof value !== 'string') return false;
  return ['string', 'number', 'bigint', 'boolean', 'date', 'json', 'null', 'mixed'].includes(value) || value.startsWith('custom:');
}
