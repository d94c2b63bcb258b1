import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, type BuiltinDialect, type CustomDialect, type TranslateTarget } from '../src/index.js';

/**
 * A model of portable SQL: statements are built from tokens whose translation is known, joined
 * by spaces (so no token can glue onto the next). The lexer must reproduce the model exactly.
 */
type Token =
  | { readonly kind: 'plain'; readonly text: string }
  | { readonly kind: 'placeholder' }
  | { readonly kind: 'literal-question' }
  | { readonly kind: 'bracket'; readonly name: string }
  | { readonly kind: 'opaque'; readonly text: string; readonly what: string };

interface Target {
  readonly target: TranslateTarget;
  readonly quote: '"' | '`';
  readonly placeholder: (index: number) => string;
  readonly mysqlLike: boolean;
  readonly postgresLike: boolean;
}

const colon: CustomDialect = { name: 'colon', identifierQuote: '"', placeholder: (i) => ':p' + i };

const TARGETS: Readonly<Record<BuiltinDialect | 'custom', Target>> = {
  postgres: { target: 'postgres', quote: '"', placeholder: (i) => '$' + i, mysqlLike: false, postgresLike: true },
  mysql: { target: 'mysql', quote: '`', placeholder: () => '?', mysqlLike: true, postgresLike: false },
  sqlite: { target: 'sqlite', quote: '"', placeholder: () => '?', mysqlLike: false, postgresLike: false },
  custom: { target: colon, quote: '"', placeholder: (i) => ':p' + i, mysqlLike: false, postgresLike: false },
};

// Every character that means something to the lexer, plus a few ordinary ones.
const tricky = fc.string({
  unit: fc.constantFrom('?', '[', ']', "'", '"', '`', '-', '/', '*', '$', '#', ':', '@', '\\', '\n', 'a', 'E', '1', ' ', 'ü'),
  maxLength: 12,
});

const plain = fc
  .string({ unit: fc.constantFrom('x', 'y', 'z', '=', ',', '(', ')', '+', '<', '0', '9', '.'), maxLength: 6 })
  .map((text): Token => ({ kind: 'plain', text }));

function tokenArbitrary(t: Target): fc.Arbitrary<Token> {
  const opaque = (what: string, arb: fc.Arbitrary<string>): fc.Arbitrary<Token> =>
    arb.map((text): Token => ({ kind: 'opaque', text, what }));
  const backslashes = (s: string): string => (t.mysqlLike ? s.replaceAll('\\', '\\\\') : s);
  const options: fc.Arbitrary<Token>[] = [
    plain,
    fc.constant<Token>({ kind: 'placeholder' }),
    fc.constant<Token>({ kind: 'literal-question' }),
    tricky.map((s): Token => ({ kind: 'bracket', name: 'c' + s })),
    opaque('string', tricky.map((s) => `'${backslashes(s).replaceAll("'", "''")}'`)),
    opaque('double-quoted', tricky.map((s) => `"${backslashes(s).replaceAll('"', '""')}"`)),
    opaque('backtick', tricky.map((s) => '`' + s.replaceAll('`', '``') + '`')),
    opaque('line comment', tricky.map((s) => `-- ${s.replace(/[\r\n]/g, '')}\n`)),
    opaque(
      'block comment',
      tricky.map((s) => `/*${s}*/`).filter((c) => c.indexOf('/*', 2) < 0 && c.indexOf('*/', 2) === c.length - 2),
    ),
  ];
  if (t.mysqlLike) options.push(opaque('hash comment', tricky.map((s) => `#${s.replace(/[\r\n]/g, '')}\n`)));
  if (t.postgresLike) {
    options.push(
      opaque('E string', tricky.map((s) => `E'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)),
      opaque(
        'dollar body',
        fc
          .tuple(fc.constantFrom('', 'fn', 'q_1'), tricky)
          .map(([tag, body]) => `$${tag}$${body}$${tag}$`)
          .filter((d) => {
            const close = d.slice(0, d.indexOf('$', 1) + 1);
            return d.indexOf(close, close.length) === d.length - close.length;
          }),
      ),
    );
  }
  return fc.oneof(...options);
}

function model(tokens: readonly Token[], t: Target): { input: string; output: string; count: number; literals: number } {
  const input: string[] = [];
  const output: string[] = [];
  let count = 0;
  let literals = 0;
  for (const token of tokens) {
    switch (token.kind) {
      case 'plain':
        input.push(token.text);
        output.push(token.text);
        break;
      case 'placeholder':
        input.push('?');
        output.push(t.placeholder(++count));
        break;
      case 'literal-question':
        literals++;
        input.push('??');
        output.push('?');
        break;
      case 'bracket':
        input.push('[' + token.name.replaceAll(']', ']]') + ']');
        output.push(t.quote + token.name.replaceAll(t.quote, t.quote + t.quote) + t.quote);
        break;
      case 'opaque':
        input.push(token.text);
        output.push(token.text);
        break;
    }
  }
  return { input: input.join(' '), output: output.join(' '), count, literals };
}

const RUNS = { numRuns: 400 };

describe.each(Object.entries(TARGETS))('properties on %s', (_name, t) => {
  const statement = fc.array(tokenArbitrary(t), { maxLength: 12 });

  it('(a) text inside strings, comments, quoted identifiers and dollar bodies is never changed', () => {
    fc.assert(
      fc.property(statement, (tokens) => {
        const { input, output } = model(tokens, t);
        const sql = compile(input, t.target).sql;
        expect(sql).toBe(output);
        for (const token of tokens) if (token.kind === 'opaque') expect(sql).toContain(token.text);
      }),
      RUNS,
    );
  });

  it('(b) the number of placeholders is preserved', () => {
    fc.assert(
      fc.property(statement, (tokens) => {
        const { input, count, literals } = model(tokens, t);
        const compiled = compile(input, t.target);
        expect(compiled.parameterCount).toBe(count);
        if (t.target === 'postgres') {
          if (literals === 0) {
            // Read back as PostgreSQL: exactly $1..$count, which are native placeholders.
            expect(compile(compiled.sql, 'postgres').parameterCount).toBe(count);
          }
          const numbers = compiled.sql.match(/\$\d+/g) ?? [];
          for (let i = 1; i <= count; i++) expect(numbers).toContain('$' + i);
        } else if (t.target === 'mysql' || t.target === 'sqlite') {
          // `??` became a bare `?`, which the native driver will also see as a placeholder.
          expect(compile(compiled.sql, t.target).parameterCount).toBe(count + literals);
        }
      }),
      RUNS,
    );
  });
});

describe('(c) idempotence', () => {
  it('translating PostgreSQL output again changes nothing when the input has no ?', () => {
    const t = TARGETS.postgres;
    const noQuestion = fc.array(
      tokenArbitrary(t).filter((token) => token.kind !== 'placeholder' && token.kind !== 'literal-question'),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(noQuestion, (tokens) => {
        const once = compile(model(tokens, t).input, 'postgres').sql;
        expect(compile(once, 'postgres').sql).toBe(once);
      }),
      RUNS,
    );
  });

  it('native $n placeholders survive translation unchanged', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), (numbers) => {
        const sql = 'SELECT ' + numbers.map((n) => `$${n}`).join(', ');
        const compiled = compile(sql, 'postgres');
        expect(compiled.sql).toBe(sql);
        expect(compiled.parameterCount).toBe(Math.max(...numbers));
      }),
      RUNS,
    );
  });
});
