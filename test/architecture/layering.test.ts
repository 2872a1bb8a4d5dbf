import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layering of src/, checked on the import specifiers themselves (static `import`, `export … from`
 * and dynamic `import()`), not on a description of them.
 *
 *   ir → io → runtime → verify          (runtime and verify beside the flow)
 *          ↘ passes → codegen
 *              report (explore, the report renderer) sits above passes, runtime and verify
 *              cli sits on top; src/index.ts is the public API and may re-export anything
 *   fixtures (the model generators) build IR only
 *
 * `errors.ts` at the root is allowed everywhere.
 */
const SRC = resolve(import.meta.dirname, '../../src');

/** Which top-level folders of src/ each layer may import from (its own folder is always allowed). */
const ALLOWED: Record<string, readonly string[]> = {
  ir: [],
  io: ['ir'],
  runtime: ['ir', 'io'],
  verify: ['ir', 'io', 'runtime'],
  passes: ['ir', 'io', 'runtime'],
  codegen: ['ir', 'io', 'runtime', 'passes'],
  report: ['ir', 'io', 'runtime', 'verify', 'passes', 'codegen'],
  fixtures: ['ir', 'io'],
  cli: ['ir', 'io', 'runtime', 'verify', 'passes', 'codegen', 'report', 'fixtures'],
};
const ROOT_ALLOWED = new Set(['errors.ts']);

const ORT = 'onnxruntime-node';
/** The passes' one door to code that loads onnxruntime-node (calibration, trials, logits). */
const MEASURE = 'passes/measure/';
/** Modules that only rewrite or analyze graphs: none of them may load onnxruntime-node, even through measure/. */
const GRAPH_ONLY = [
  /^passes\/(analysis|canonicalize|pattern|rewrite|shape-inference)\//,
  // The pass machinery too: a pipeline of graph passes run through the API never loads the runtime.
  /^passes\/(pass|pass-manager|pipeline|options|registry|plugins|instrumentation|analyses|scores-file|progress)\.ts$/,
  /^passes\/attn-prune\/(remove-attention|select)\.ts$/,
  /^passes\/ffn-fusion\/(fuse|weights|candidates|select)\.ts$/,
];

interface Import {
  /** A path relative to src/ (`ir/model.ts`), or a package name. */
  target: string;
  /** Erased at compile time: `import type`, or only `type` specifiers. */
  typeOnly: boolean;
  dynamic: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function importsOf(file: string): Import[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean, dynamic: boolean) => {
    const target = spec.startsWith('.') ? relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts') : spec.replace(/^(@[^/]+\/[^/]+|[^/]+).*$/, '$1');
    out.push({ target, typeOnly, dynamic });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, typeOnly, false);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const named = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : undefined;
      add(n.moduleSpecifier.text, n.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)), false);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      add(n.arguments[0].text, false, true);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true, false);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const files = sourceFiles(SRC).map((f) => relative(SRC, f));
const imports = new Map(files.map((f) => [f, importsOf(join(SRC, f))]));
const layerOf = (path: string) => (path.includes('/') ? path.slice(0, path.indexOf('/')) : undefined);

/** Static value imports: what actually loads when a module loads. */
function loads(path: string): string[] {
  return (imports.get(path) ?? []).filter((i) => !i.typeOnly && !i.dynamic).map((i) => i.target);
}

/** One chain of static value imports from `from` to onnxruntime-node that avoids `avoid`, or undefined. */
function chainToOrt(from: string, avoid: (path: string) => boolean): string[] | undefined {
  const seen = new Set<string>([from]);
  const queue: string[][] = [[from]];
  while (queue.length) {
    const chain = queue.shift()!;
    for (const t of loads(chain[chain.length - 1]!)) {
      if (t === ORT) return [...chain, ORT];
      if (!imports.has(t) || seen.has(t) || avoid(t)) continue;
      seen.add(t);
      queue.push([...chain, t]);
    }
  }
  return undefined;
}

describe('layering of src/ (from the import specifiers)', () => {
  it('parses imports of every kind', () => {
    // The parser sees static, re-exported, dynamic and type-only imports (a check that cannot see them would pass vacuously).
    expect(files.length).toBeGreaterThan(100);
    const all = [...imports.values()].flat();
    expect(all.some((i) => i.dynamic)).toBe(true);
    expect(all.some((i) => i.typeOnly)).toBe(true);
    expect(imports.get('index.ts')!.length).toBeGreaterThan(20);
    expect(loads('runtime/session.ts')).toContain(ORT);
  });

  it('every layer imports only the layers below it', () => {
    const violations: string[] = [];
    for (const [file, list] of imports) {
      const layer = layerOf(file);
      for (const { target } of list) {
        if (!files.includes(target) || ROOT_ALLOWED.has(target)) continue;
        const to = layerOf(target);
        if (layer === undefined) {
          // Root modules: errors.ts imports nothing; index.ts is the public API.
          if (file !== 'index.ts') violations.push(`${file} → ${target}`);
          continue;
        }
        if (to === layer) continue;
        const allowed = ALLOWED[layer];
        if (!allowed) violations.push(`${file}: folder '${layer}' has no place in the layering`);
        else if (to === undefined || !allowed.includes(to)) violations.push(`${layer} → ${to ?? 'root'}: ${file} imports ${target}`);
      }
    }
    expect(violations, `layering violations:\n${violations.join('\n')}`).toEqual([]);
  });

  it('only runtime/ imports onnxruntime-node as a value', () => {
    const violations = files.filter((f) => layerOf(f) !== 'runtime' && loads(f).includes(ORT));
    expect(violations, `modules outside runtime/ that load onnxruntime-node:\n${violations.join('\n')}`).toEqual([]);
  });

  it('passes reach onnxruntime-node only through passes/measure/ (or a dynamic import)', () => {
    // Rule: remove passes/measure/ from the static import graph; then no module under passes/
    // loads onnxruntime-node. Measuring passes import measure/; passes that only rewrite graphs cannot.
    const violations: string[] = [];
    for (const f of files.filter((x) => x.startsWith('passes/') && !x.startsWith(MEASURE))) {
      const chain = chainToOrt(f, (p) => p.startsWith(MEASURE));
      if (chain) violations.push(chain.join(' → '));
    }
    expect(violations, `passes that load onnxruntime-node outside passes/measure/:\n${violations.join('\n')}`).toEqual([]);
  });

  it('modules that only rewrite or analyze graphs do not load onnxruntime-node at all', () => {
    const graphOnly = files.filter((f) => GRAPH_ONLY.some((re) => re.test(f)));
    expect(graphOnly.length).toBeGreaterThan(30);
    const violations: string[] = [];
    for (const f of graphOnly) {
      const chain = chainToOrt(f, () => false);
      if (chain) violations.push(chain.join(' → '));
    }
    expect(violations, `graph-only modules that load onnxruntime-node:\n${violations.join('\n')}`).toEqual([]);
  });
});
