import type { OptionSpec, OptionSpecs } from './pass.js';

/** Parses one option's text against its spec, type and range; returns an error message instead of throwing. */
export function parseOptionValue(spec: OptionSpec, text: string): { value: unknown } | { error: string } {
  const r = parseByType(spec, text);
  if ('error' in r) return r;
  const numbers = typeof r.value === 'number' ? [r.value] : Array.isArray(r.value) ? (r.value.flat() as number[]) : [];
  const outside = numbers.find((n) => (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max));
  if (outside !== undefined) return { error: `expects ${Array.isArray(r.value) ? 'items' : 'a value'} ${rangeText(spec)}, got ${outside}` };
  return r;
}

function rangeText(spec: OptionSpec): string {
  if (spec.min !== undefined && spec.max !== undefined) return `between ${spec.min} and ${spec.max}`;
  return spec.min !== undefined ? `of at least ${spec.min}` : `of at most ${spec.max}`;
}

function parseByType(spec: OptionSpec, text: string): { value: unknown } | { error: string } {
  const int = (s: string) => (/^-?\d+$/.test(s) ? Number(s) : undefined);
  switch (spec.type) {
    case 'int': {
      const v = int(text);
      return v === undefined ? { error: `expects an integer, got '${text}'` } : { value: v };
    }
    case 'float': {
      const v = Number(text);
      return text === '' || !Number.isFinite(v) ? { error: `expects a number, got '${text}'` } : { value: v };
    }
    case 'bool':
      if (text === 'true' || text === '1') return { value: true };
      if (text === 'false' || text === '0') return { value: false };
      return { error: `expects true or false, got '${text}'` };
    case 'string':
      return { value: text };
    case 'enum':
      return spec.values?.includes(text) ? { value: text } : { error: `expects one of ${spec.values?.join('|')}, got '${text}'` };
    case 'int-list': {
      const items = listItems(text);
      const vals = items?.map(int);
      if (!vals || vals.some((v) => v === undefined)) return { error: `expects a list of integers like [0,15], got '${text}'` };
      return { value: vals };
    }
    case 'int-list-list': {
      const outer = listItems(text);
      const vals = outer?.map((s) => listItems(s)?.map(int));
      if (!vals || vals.some((l) => !l || l.some((v) => v === undefined))) return { error: `expects a list of integer lists like [[4,7],[9,12]], got '${text}'` };
      return { value: vals };
    }
  }
}

/** Splits `[a,b,[c,d]]` into top-level items; undefined if not a list. */
function listItems(text: string): string[] | undefined {
  if (!text.startsWith('[') || !text.endsWith(']')) return undefined;
  const inner = text.slice(1, -1);
  if (inner === '') return [];
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      items.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  items.push(inner.slice(start));
  return items;
}

/** `int-list`, default [0, -1] → "int[] = [0,-1]" for --list-passes. */
export function describeOption(name: string, spec: OptionSpec): string {
  const type = spec.type === 'enum' ? spec.values!.join('|') : spec.type === 'int-list' ? 'int[]' : spec.type === 'int-list-list' ? 'int[][]' : spec.type;
  const dflt = spec.default === undefined ? '' : ` = ${JSON.stringify(spec.default)}`;
  const range = spec.min !== undefined || spec.max !== undefined ? ` (${rangeText(spec)})` : '';
  return `${name}: ${type}${dflt}  ${spec.description}${range}`;
}

export function specNames(specs: OptionSpecs): string[] {
  return Object.keys(specs);
}
