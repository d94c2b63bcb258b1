import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * docs/adding-a-backend.md walks through this package: every code block is an excerpt of the file
 * its first line names (JSON blocks: of this package.json), so it compiles whenever the driver does.
 */
const root = join(import.meta.dirname, '../../..');
const guide = readFileSync(join(root, 'docs/adding-a-backend.md'), 'utf8');
const blocks = [...guide.matchAll(/```(ts|json)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang: lang!, lines: body!.replace(/\n$/, '').split('\n') }));

/** True when `lines` appear in `text` in this order, each line whole. */
function inOrder(lines: readonly string[], text: string): boolean {
  const fileLines = text.split('\n');
  let at = 0;
  for (const line of lines) {
    const found = fileLines.indexOf(line, at);
    if (found === -1) return false;
    at = found + 1;
  }
  return true;
}

describe('docs/adding-a-backend.md', () => {
  it('has code blocks, each naming its file', () => {
    expect(blocks.length).toBeGreaterThan(10);
    for (const block of blocks.filter((b) => b.lang === 'ts')) expect(block.lines[0]).toMatch(/^\/\/ packages\/[\w./-]+\.ts$/);
  });

  it.each(blocks.map((block, i) => [i + 1, block] as const))('block %i is an excerpt of its file', (_n, block) => {
    const [first, ...rest] = block.lines;
    const file = block.lang === 'ts' ? first!.slice(3) : 'packages/driver-pglite/package.json';
    const body = block.lang === 'ts' ? rest : block.lines;
    expect(inOrder(body, readFileSync(join(root, file), 'utf8')), `${file}:\n${body.join('\n')}`).toBe(true);
  });
});
