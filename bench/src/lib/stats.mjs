/**
 * Median of a list of numbers (NaN for an empty list).
 *
 * ```js
 * median([3, 1, 2]); // 2
 * ```
 * @param {readonly number[]} values
 * @returns {number}
 */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? /** @type {number} */ (sorted[mid]) : (/** @type {number} */ (sorted[mid - 1]) + /** @type {number} */ (sorted[mid])) / 2;
}

/**
 * Nearest-rank percentile (`p` in 0..100) of a list of numbers (NaN for an empty list).
 *
 * ```js
 * percentile([1, 2, 3, 4], 99); // 4
 * ```
 * @param {readonly number[]} values
 * @param {number} p
 * @returns {number}
 */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return /** @type {number} */ (sorted[Math.min(rank, sorted.length) - 1]);
}

/**
 * A number formatted for a table: thousands separators, `digits` decimals, '-' for NaN.
 * @param {number} value
 * @param {number} [digits]
 * @returns {string}
 */
export function fmt(value, digits = 0) {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * A GitHub-flavoured markdown table.
 *
 * ```js
 * markdownTable(['a', 'b'], [['1', '2']]);
 * ```
 * @param {readonly string[]} header
 * @param {readonly (readonly string[])[]} rows
 * @returns {string}
 */
export function markdownTable(header, rows) {
  const line = (/** @type {readonly string[]} */ cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * The table the SQLite hot-path scripts print: each contender's median ops/s, its ratio to the
 * baseline's median (the raw call) and the time per call, in the order of `samples`.
 * @param {string} title the first column's header
 * @param {Record<string, number[]>} samples ops/s per contender
 * @param {string} baseline the contender the ratios are to
 * @returns {string}
 */
export function ratioTable(title, samples, baseline) {
  const base = median(samples[baseline] ?? []);
  const rows = Object.keys(samples).map((name) => {
    const value = median(samples[name] ?? []);
    return [name, Math.round(value).toLocaleString('en-US'), (value / base).toFixed(3), (1e6 / value).toFixed(2)];
  });
  return markdownTable([title, 'median ops/s', 'ratio to raw', 'µs per call'], rows);
}
