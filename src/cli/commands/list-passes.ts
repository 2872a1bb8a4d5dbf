import { describeOption } from '../../passes/options.js';
import type { PassRegistry } from '../../passes/registry.js';

/** `--list-passes`: every pass with its summary and options (types, defaults), then the aliases. */
export function formatPassList(registry: PassRegistry): string {
  const lines: string[] = ['Passes:'];
  for (const def of registry.list()) {
    lines.push(`  ${def.name}`);
    lines.push(`      ${def.summary}`);
    for (const [k, spec] of Object.entries(def.options)) lines.push(`      ${describeOption(k, spec)}`);
  }
  const aliases = registry.listAliases();
  if (aliases.length) {
    lines.push('', 'Pipeline aliases:');
    for (const [name, a] of aliases) lines.push(`  ${name} = ${a.pipeline}`, `      ${a.summary}`);
  }
  lines.push('', 'Groups:', '  fixed-point{max-steps=10}(p1,p2,...)', '      repeat the passes until none changes the model (at most max-steps rounds)');
  return lines.join('\n');
}
