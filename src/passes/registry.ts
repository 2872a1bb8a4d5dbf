import type { PassDefinition } from './pass.js';

/** Pass definitions and pipeline aliases, keyed by the name used on the command line. */
export class PassRegistry {
  private readonly passes = new Map<string, PassDefinition>();
  private readonly aliases = new Map<string, { pipeline: string; summary: string }>();

  register(def: PassDefinition): void {
    if (this.passes.has(def.name) || this.aliases.has(def.name)) throw new Error(`a pass named '${def.name}' is already registered`);
    this.passes.set(def.name, def);
  }

  /** `canonicalize` → `fixed-point(eliminate-identity,fold-constants,cse,dce)`. */
  registerAlias(name: string, pipeline: string, summary: string): void {
    if (this.passes.has(name) || this.aliases.has(name)) throw new Error(`a pass named '${name}' is already registered`);
    this.aliases.set(name, { pipeline, summary });
  }

  get(name: string): PassDefinition | undefined {
    return this.passes.get(name);
  }

  alias(name: string): { pipeline: string; summary: string } | undefined {
    return this.aliases.get(name);
  }

  has(name: string): boolean {
    return this.passes.has(name) || this.aliases.has(name);
  }

  list(): PassDefinition[] {
    return [...this.passes.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  listAliases(): [string, { pipeline: string; summary: string }][] {
    return [...this.aliases].sort((a, b) => a[0].localeCompare(b[0]));
  }
}

/** The process-wide registry the CLI and `runPipeline` use; built-in passes register on import. */
export const defaultRegistry = new PassRegistry();
