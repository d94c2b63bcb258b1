/** Columns of the raw table that mirrors what the entity framework stores for one entity. */
export const ENTITY_COLUMNS = /** @type {const} */ ([
  'id', 'name', 'age', 'email', 'score', 'active',
  'created_at', 'updated_at', 'created_by', 'updated_by', 'deleted_at',
]);

/** Extra columns of its history table. */
export const HISTORY_COLUMNS = /** @type {const} */ ([...ENTITY_COLUMNS, 'version', 'history_timestamp', 'history_user_id', 'history_comment']);

/** Rows per multi-row INSERT: well under every backend's parameter limit (15 columns x 500 = 7,500). */
export const BATCH = 500;

/**
 * A multi-row INSERT for `count` rows with `?` or `$n` placeholders.
 *
 * ```js
 * multiRowInsert('"t"', ['"a"'], 2, 'dollar'); // INSERT INTO "t" ("a") VALUES ($1), ($2)
 * ```
 * @param {string} table        quoted table name
 * @param {readonly string[]} columns  quoted column names
 * @param {number} count
 * @param {'dollar' | 'question'} style
 * @returns {string}
 */
export function multiRowInsert(table, columns, count, style) {
  let n = 0;
  const tuple = () => `(${columns.map(() => (style === 'dollar' ? `$${++n}` : '?')).join(', ')})`;
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: count }, tuple).join(', ')}`;
}

/**
 * Split `items` into chunks of `size`.
 * @template T
 * @param {readonly T[]} items
 * @param {number} size
 * @returns {T[][]}
 */
export function chunks(items, size) {
  /** @type {T[][]} */
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The entity rows of one round, as a user would pass them to saveEntities.
 * @param {number} count
 * @param {number} offset
 * @returns {Record<string, unknown>[]}
 */
export function entityRows(count, offset) {
  return Array.from({ length: count }, (_, j) => {
    const i = offset + j;
    return { name: `user ${i}`, age: 20 + (i % 50), email: `user${i}@example.com`, score: i / 7, active: i % 2 === 0 };
  });
}
