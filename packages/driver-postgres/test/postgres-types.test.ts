import { describe, expect, it } from 'vitest';
import { postgresArray, postgresTypeParsers } from '../src/index.js';
import { preparePostgresParams } from '../src/postgres-types.js';

describe('preparePostgresParams', () => {
  it('returns the very same array when nothing needs converting (no per-query copy)', () => {
    const params = ['a', 1, 2n, true, null, undefined, new Date(0), Buffer.from('x'), { a: 1 }];
    expect(preparePostgresParams(params)).toBe(params);
  });

  it('sends arrays as JSON text without touching the caller’s array', () => {
    const params = [1, [1, 'two', { three: 3 }], 'x'];
    const prepared = preparePostgresParams(params);
    expect(prepared).toEqual([1, '[1,"two",{"three":3}]', 'x']);
    expect(params[1]).toEqual([1, 'two', { three: 3 }]);
  });

  it('leaves postgresArray values for pg to write as an array literal', () => {
    const wrapped = postgresArray([1, 'a"b', null]);
    expect(preparePostgresParams([wrapped])[0]).toBe(wrapped);
  });
});

describe('postgresTypeParsers', () => {
  const parse = (oid: number, text: string): unknown => (postgresTypeParsers.getTypeParser as (oid: number) => (v: string) => unknown)(oid)(text);

  it('parses int8 as a number when safe, else as a bigint', () => {
    expect(parse(20, '42')).toBe(42);
    expect(parse(20, '-9007199254740991')).toBe(-9_007_199_254_740_991);
    expect(parse(20, '9007199254740992')).toBe(9_007_199_254_740_992n);
    expect(parse(20, '-9223372036854775808')).toBe(-9_223_372_036_854_775_808n);
  });

  it('keeps numeric[] exact and parses nested int8[]', () => {
    expect(parse(1231, '{1.10,NULL,3}')).toEqual(['1.10', null, '3']);
    expect(parse(1016, '{{1,9223372036854775807},{NULL,2}}')).toEqual([[1, 9_223_372_036_854_775_807n], [null, 2]]);
  });
});
