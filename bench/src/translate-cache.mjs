// Time of a cached translation (a compile() hit) of typical statements, per target.
// Usage: node src/translate-cache.mjs   (prints a markdown table)
import { clearTranslationCache, compile } from '@dal/sql-translate';

const statements = {
  'point select': 'SELECT [id], [name], [email] FROM [users] WHERE [id] = ?',
  'insert, 5 columns': 'INSERT INTO [orders] ([id], [user_id], [total], [status], [created_at]) VALUES (?, ?, ?, ?, ?)',
  'join with literals': "SELECT [o].[id], [u].[name] FROM [orders] [o] JOIN [users] [u] ON [u].[id] = [o].[user_id] WHERE [o].[status] = 'open' AND [o].[total] > ?",
};
const ITERATIONS = 2_000_000;
const rows = [];
for (const [name, sql] of Object.entries(statements)) {
  for (const target of /** @type {const} */ (['postgres', 'mysql', 'sqlite'])) {
    clearTranslationCache();
    const missStart = process.hrtime.bigint();
    compile(sql, target);
    const missNs = Number(process.hrtime.bigint() - missStart);
    let sink = 0;
    const samples = [];
    for (let round = 0; round < 5; round++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < ITERATIONS; i++) sink += compile(sql, target).parameterCount;
      samples.push(Number(process.hrtime.bigint() - start) / ITERATIONS);
    }
    if (sink < 0) console.log(sink);
    samples.sort((a, b) => a - b);
    rows.push(`| ${name} | ${target} | ${(samples[2] ?? Number.NaN).toFixed(1)} ns | ${(missNs / 1000).toFixed(1)} µs |`);
  }
}
console.log('| statement | target | cached (median of 5 x 2M) | first translation (one sample) |\n| --- | --- | --- | --- |');
console.log(rows.join('\n'));
