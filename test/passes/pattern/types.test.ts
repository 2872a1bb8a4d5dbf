import { describe, expectTypeOf, it } from 'vitest';
import type { Value } from '../../../src/ir/value.js';
import { defineRule, type Match } from '../../../src/passes/pattern/index.js';

/** Compile-time checks (tsc runs them): pattern variables type the bindings of check and rewrite. */
describe('binding types follow the pattern', () => {
  it('positional and inline variables, and `as`, are required Values', () => {
    defineRule({
      name: 'rms',
      vars: ['x', 'w'],
      pattern: (op, x, w) => op.Mul(w, op.Mul(x, op.Div(1, op.Sqrt(op.Add(op.ReduceMean(op.Pow(x, 2)), op.var('eps', { constant: true }))))), { as: 'out' }),
      check: (_ctx, b) => {
        expectTypeOf(b.x).toEqualTypeOf<Value>();
        expectTypeOf(b.eps).toEqualTypeOf<Value>();
        expectTypeOf(b.out).toEqualTypeOf<Value>();
        // @ts-expect-error not a variable of this pattern
        void b.y;
      },
      rewrite: (op, { x, w }, match) => {
        expectTypeOf(match).toMatchTypeOf<Match<unknown>>();
        return op.Mul(x, w);
      },
    });
  });

  it('variables bound on some paths only are optional; optional() keeps its input-0 variables required', () => {
    defineRule({
      name: 'alt',
      pattern: (op) => op.Relu(op.oneOf(op.Add(op.var('a'), op.var('b')), op.Sub(op.var('a'), op.var('c')))),
      check: (_ctx, b) => {
        expectTypeOf(b.a).toEqualTypeOf<Value>();
        expectTypeOf(b.b).toEqualTypeOf<Value | undefined>();
        expectTypeOf(b.c).toEqualTypeOf<Value | undefined>();
      },
    });
    defineRule({
      name: 'opt',
      pattern: (op) => op.Neg(op.optional(op.Cast(op.var('x'), op.var('unused')))),
      check: (_ctx, b) => {
        expectTypeOf(b.x).toEqualTypeOf<Value>();
        expectTypeOf(b.unused).toEqualTypeOf<Value | undefined>();
      },
    });
  });

  it('multi-root rules return one Value per root; output(i, name) binds', () => {
    defineRule({
      name: 'multi',
      pattern: (op) => {
        const n = op.call('SkipSimplifiedLayerNormalization', [op.var('x'), op.var('skip'), op.var('w')], { domain: 'com.microsoft' });
        return [n, n.output(3, 'residual')] as const;
      },
      rewrite: (_op, b) => {
        expectTypeOf(b.residual).toEqualTypeOf<Value>();
        return [b.x, b.skip];
      },
    });
  });
});
