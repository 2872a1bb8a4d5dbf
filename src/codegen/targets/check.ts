/**
 * Can this model run on a given execution provider? Every node (subgraphs included) is looked up
 * in the EP table: op present for the node's domain, a kernel for the opset the model imports,
 * and for a few CUDA contrib ops, the element type of the input the kernel binds.
 *
 * - `cpu`, `cuda`, `tensorrt`: a node the EP cannot take is an error. (ORT would quietly run it
 *   on CPU with copies around it; the check says so up front instead.)
 * - `any`: a node is a problem only if neither GPU EP (CUDA nor TensorRT) can take it, and then
 *   only a warning.
 * Domains the model imports that no EP implements at all are reported as warnings for every target.
 */
import { OnnxOptError } from '../../errors.js';
import { DataType } from '../../ir/dtype.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { EP_TABLE, ONNX_FUNCTION_OPS, ORT_LOADER_OPS, type EpTarget } from './ep-table.js';

export type { EpTarget } from './ep-table.js';
export type Target = EpTarget | 'any';
export const TARGETS: readonly Target[] = ['cpu', 'cuda', 'tensorrt', 'any'];
export const GPU_TARGETS: readonly EpTarget[] = ['cuda', 'tensorrt'];

export function isTarget(s: string): s is Target {
  return (TARGETS as readonly string[]).includes(s);
}

export interface TargetProblem {
  /** The node's name, or `op(first output)` when it has none; `(opset_import)` for a domain import. */
  node: string;
  /** `domain::op`, or the plain op for ai.onnx; the domain itself for a domain import. */
  op: string;
  reason: string;
  severity: 'error' | 'warning';
}

export interface TargetCheckResult {
  target: Target;
  /** No errors (warnings allowed). */
  ok: boolean;
  problems: TargetProblem[];
}

/** Whether one EP can run one op (and how: its own kernel, ORT's loader, or an inlined ONNX function), or why not. */
export type Verdict = { ok: true; via?: 'kernel' | 'loader' | 'function' } | { ok: false; reason: string };

/** Inclusive range; `to` undefined means open-ended. */
interface Range {
  from: number;
  to: number | undefined;
}

const rangeCache = new Map<string, Range[]>();

/** '7-12,13,14+' → [{7,12},{13,13},{14,∞}]. */
export function parseRanges(spec: string): Range[] {
  let r = rangeCache.get(spec);
  if (r) return r;
  r = spec.split(',').map((part) => {
    const p = part.trim();
    const m = /^(\d+)(?:(\+)|-(\d+))?$/.exec(p);
    if (!m) throw new Error(`ep-table: bad version range '${p}' in '${spec}'`);
    const from = Number(m[1]);
    return { from, to: m[2] ? undefined : m[3] !== undefined ? Number(m[3]) : from };
  });
  rangeCache.set(spec, r);
  return r;
}

function inRange(v: number, r: Range): boolean {
  return v >= r.from && (r.to === undefined || v <= r.to);
}

function normDomain(d: string): string {
  return d === 'ai.onnx' ? '' : d;
}

function qualified(domain: string, op: string): string {
  return domain ? `${domain}::${op}` : op;
}

function opsetWord(domain: string): string {
  return domain ? `${domain} opset` : 'opset';
}

/** ORT's name for an element type (float, float16, bfloat16, ...). */
function ortTypeName(dt: DataType): string {
  return (DataType[dt] ?? `dtype${dt}`).toLowerCase();
}

function missingReason(target: EpTarget, q: string): string {
  return target === 'tensorrt' ? `TensorRT's ONNX parser does not support ${q}` : `no ${EP_TABLE[target].label} kernel for ${q}`;
}

/** Does `target` implement `op` of `domain` at the imported `opset`? `node` enables the input-type check. */
export function supportOf(target: EpTarget, domain: string, op: string, opset: number, node?: Node): Verdict {
  const d = normDomain(domain);
  const spec = EP_TABLE[target];
  const label = spec.label;
  const q = qualified(d, op);
  if (target !== 'tensorrt' && ORT_LOADER_OPS[d]?.includes(op)) return { ok: true, via: 'loader' };
  const ranges = spec.domains[d]?.[op];
  if (ranges === undefined) {
    // An ONNX function op with no kernel anywhere in the session is inlined by ORT; if CPU has a
    // kernel, the node goes to CPU instead (not the target).
    const fnSince = d === '' ? ONNX_FUNCTION_OPS[op] : undefined;
    if (target !== 'tensorrt' && fnSince !== undefined && opset >= fnSince) {
      const cpu = EP_TABLE.cpu.domains['']?.[op];
      if (target === 'cpu' || cpu === undefined || !parseRanges(cpu).some((r) => inRange(opset, r))) return { ok: true, via: 'function' };
    }
    let reason = missingReason(target, q);
    const elsewhere = Object.keys(spec.domains).filter((other) => other !== d && spec.domains[other]![op] !== undefined);
    if (elsewhere.length) reason += ` (${label} has ${op} in ${elsewhere.map((o) => (o ? `domain ${o}` : 'the default domain')).join(', ')})`;
    return { ok: false, reason };
  }
  const rs = parseRanges(ranges);
  if (!rs.some((r) => inRange(opset, r))) {
    const minFrom = Math.min(...rs.map((r) => r.from));
    const maxTo = rs.some((r) => r.to === undefined) ? undefined : Math.max(...rs.map((r) => r.to!));
    let reason: string;
    if (opset < minFrom) reason = `${q} requires ${opsetWord(d)} ≥ ${minFrom} on ${label}, model imports ${opset}`;
    else if (maxTo !== undefined && opset > maxTo) reason = `${q} requires ${opsetWord(d)} ≤ ${maxTo} on ${label}, model imports ${opset}`;
    else reason = `${label} has ${q} kernels for ${opsetWord(d)}s ${ranges}, not ${opset}`;
    return { ok: false, reason };
  }
  const types = spec.inputTypes?.[q];
  if (types && node) {
    const t = node.inputs[types.input]?.type;
    if (t?.kind === 'tensor' && !types.types.includes(ortTypeName(t.dtype))) {
      return { ok: false, reason: `${label} has no ${ortTypeName(t.dtype)} kernel for ${q} (${types.types.join(', ')} only)` };
    }
  }
  return { ok: true, via: 'kernel' };
}

/** Checks every node of the model (subgraphs included) against a target. */
export function checkTarget(model: Model, target: Target): TargetCheckResult {
  const problems: TargetProblem[] = [];
  const severity = target === 'any' ? 'warning' : 'error';

  for (const imp of model.opsetImports) {
    const d = normDomain(imp.domain);
    if (d === '') continue;
    const known = (Object.keys(EP_TABLE) as EpTarget[]).some((t) => EP_TABLE[t].domains[d] !== undefined);
    if (!known) {
      problems.push({
        node: '(opset_import)',
        op: d,
        reason: `the model imports domain '${d}' (version ${imp.version}), which no execution provider implements`,
        severity: 'warning',
      });
    }
  }

  for (const node of model.graph.allNodes()) {
    const d = normDomain(node.domain);
    const op = qualified(d, node.opType);
    const opset = model.opset(d);
    if (opset === undefined) {
      problems.push({ node: node.label, op, reason: `the model imports no opset for domain '${d || 'ai.onnx'}'`, severity });
      continue;
    }
    if (target !== 'any') {
      const v = supportOf(target, d, node.opType, opset, node);
      if (!v.ok) problems.push({ node: node.label, op, reason: v.reason, severity });
      continue;
    }
    const verdicts = GPU_TARGETS.map((t) => supportOf(t, d, node.opType, opset, node));
    if (verdicts.some((v) => v.ok)) continue;
    const reasons = verdicts.map((v) => (v.ok ? '' : v.reason));
    const cpu = supportOf('cpu', d, node.opType, opset, node);
    const where = cpu.ok ? 'ORT would run it on CPU' : `no CPU kernel either: ${cpu.reason}`;
    problems.push({ node: node.label, op, reason: `${reasons.join('; ')} (${where})`, severity });
  }
  return { target, ok: !problems.some((p) => p.severity === 'error'), problems };
}

function targetLabel(target: Target): string {
  return target === 'any' ? 'a GPU (CUDA or TensorRT)' : EP_TABLE[target].label;
}

/** One line per problem: `error: <node> (<op>): <reason>`; '' when there are none. */
export function formatTargetProblems(result: TargetCheckResult, target: Target = result.target, options: { max?: number } = {}): string {
  const max = options.max ?? Infinity;
  const lines = result.problems.slice(0, max).map((p) => `${p.severity}: ${p.node} (${p.op}): ${p.reason}`);
  const rest = result.problems.length - lines.length;
  if (rest > 0) lines.push(`... and ${rest} more problem${rest === 1 ? '' : 's'} for ${targetLabel(target)}`);
  return lines.join('\n');
}

/** The model has nodes the target cannot run (code UNSUPPORTED: the CLI exits 2). */
export class TargetCheckError extends OnnxOptError {
  readonly target: Target;
  readonly problems: TargetProblem[];
  /** The nodes at fault, in graph order. */
  readonly nodes: string[];

  constructor(result: TargetCheckResult, options: { file?: string; maxNodes?: number } = {}) {
    const errors = result.problems.filter((p) => p.severity === 'error');
    const max = options.maxNodes ?? 10;
    const shown = errors.slice(0, max).map((p) => `${p.node} (${p.op})`);
    const more = errors.length > max ? ` and ${errors.length - max} more` : '';
    const first = errors[0] ? `; first: ${errors[0].reason}` : '';
    super(
      'UNSUPPORTED',
      `cannot target ${targetLabel(result.target)}: ${errors.length} node${errors.length === 1 ? '' : 's'} unsupported: ${shown.join(', ')}${more}${first}`,
      { file: options.file },
    );
    this.name = 'TargetCheckError';
    this.target = result.target;
    this.problems = result.problems;
    this.nodes = errors.map((p) => p.node);
  }
}

/** checkTarget, throwing TargetCheckError when there are errors; returns the result (warnings) otherwise. */
export function assertTarget(model: Model, target: Target, options: { file?: string } = {}): TargetCheckResult {
  const result = checkTarget(model, target);
  if (!result.ok) throw new TargetCheckError(result, options);
  return result;
}

/** Number of ops the table lists for an EP, per domain, and in total. */
export function opCounts(target: EpTarget): { total: number; byDomain: Record<string, number> } {
  const byDomain: Record<string, number> = {};
  let total = 0;
  for (const [d, ops] of Object.entries(EP_TABLE[target].domains)) {
    byDomain[d || 'ai.onnx'] = Object.keys(ops).length;
    total += Object.keys(ops).length;
  }
  return { total, byDomain };
}

/** `domain::op` names `reference` (default CPU) has a kernel for and `target` does not: what ORT runs on CPU. */
export function missingOn(target: EpTarget, reference: EpTarget = 'cpu'): string[] {
  const out: string[] = [];
  for (const [d, ops] of Object.entries(EP_TABLE[reference].domains)) {
    for (const op of Object.keys(ops)) if (EP_TABLE[target].domains[d]?.[op] === undefined) out.push(qualified(d, op));
  }
  return out;
}
