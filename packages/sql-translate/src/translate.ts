import { CompiledStatement, compile } from './cache.js';
import { BUILTIN_RULES, resolveRules, targetName } from './dialect-rules.js';
import { TranslationError } from './translation-error.js';
import type { CompiledSql, TranslateTarget, Translated } from './types.js';

/**
 * Translates portable SQL (`[ident]`, `?`, `??`) to `target`'s native SQL and, when `params`
 * are given, checks that their count matches the placeholders.
 *
 * ```ts
 * translate('SELECT * FROM [t] WHERE [a] = ?', 'postgres', [1]);
 * // { sql: 'SELECT * FROM "t" WHERE "a" = $1', params: [1] }
 * ```
 * @throws {TranslationError} on malformed portable SQL (see `compile`) or a parameter count
 * that does not match the placeholders.
 */
export function translate(sql: string, target: TranslateTarget, params?: readonly unknown[]): Translated {
  const compiled = compile(sql, target);
  if (params !== undefined) checkParameterCount(compiled, params, target);
  return { sql: compiled.sql, params: params ?? [] };
}

/**
 * Checks that `params` has exactly one value per parameter `compiled` expects; does nothing when
 * the count is unknown (`parameterCount` -1, named native placeholders).
 *
 * ```ts
 * checkParameterCount(compile('SELECT ?', 'mysql'), [1]);
 * ```
 * @throws {TranslationError} (`construct` 'parameters') naming the first placeholder without a
 * value, or the count of surplus values. The message never holds parameter values.
 */
export function checkParameterCount(compiled: CompiledSql, params: readonly unknown[], target?: TranslateTarget): void {
  const expected = compiled.parameterCount;
  const given = params.length;
  if (expected < 0 || expected === given) return;
  const dialect = target === undefined ? 'unknown' : targetName(target);
  const sites = CompiledStatement.sitesOf(compiled);
  const plural = (count: number): string => `${count} parameter${count === 1 ? '' : 's'}`;
  if (given < expected) {
    const missing = sites.find((site) => site.index > given);
    const where = missing === undefined ? '' : ` (${missing.text} at offset ${missing.offset})`;
    throw new TranslationError(
      `Placeholder ${given + 1}${where} has no value: statement expects ${plural(expected)}, got ${given} (${dialect})`,
      { dialect, construct: 'parameters', ...(missing === undefined ? {} : { position: missing.offset }) },
    );
  }
  const lastSite = sites.at(-1);
  const where = lastSite === undefined ? '' : `; last placeholder ${lastSite.text} at offset ${lastSite.offset}`;
  throw new TranslationError(
    `${given - expected} parameter${given - expected === 1 ? '' : 's'} too many: statement expects ${plural(expected)}, got ${given}${where} (${dialect})`,
    { dialect, construct: 'parameters', ...(lastSite === undefined ? {} : { position: lastSite.offset }) },
  );
}

/**
 * Quotes one identifier natively for `target`, doubling the quote character inside it.
 *
 * ```ts
 * quoteIdentifier('my "col"', 'postgres'); // '"my ""col"""'
 * quoteIdentifier('order', 'mysql');       // '`order`'
 * ```
 * @throws {TranslationError} (`construct` 'identifier') when `name` is empty or contains a NUL
 * character, or (`construct` 'target') on an unknown target.
 */
export function quoteIdentifier(name: string, target: TranslateTarget): string {
  const quote = (target === 'postgres' || target === 'sqlite' || target === 'mysql' ? BUILTIN_RULES[target] : resolveRules(target)).quote;
  if (typeof name !== 'string' || name === '' || name.includes('\0')) {
    throw new TranslationError('Identifier must be a non-empty string without NUL characters', {
      dialect: targetName(target),
      construct: 'identifier',
    });
  }
  return quote + name.replaceAll(quote, quote + quote) + quote;
}
