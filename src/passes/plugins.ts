import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OnnxOptError } from '../errors.js';
import type { PassDefinition } from './pass.js';
import { defaultRegistry, type PassRegistry } from './registry.js';

/**
 * Loads a plugin: an ES module whose default export is a function returning pass definitions
 * (or an array of them). Only what the user names is loaded: a path (relative to the working
 * directory) or a package name resolved from the working directory — never a search.
 */
export async function loadPlugin(spec: string, registry: PassRegistry = defaultRegistry): Promise<string[]> {
  const url = resolveSpecifier(spec);
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (e) {
    throw new OnnxOptError('USAGE', `cannot load plugin '${spec}': ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  const exported = mod.default;
  let defs: unknown = exported;
  if (typeof exported === 'function' && !isPassDefinition(exported)) {
    // The factory is the plugin's code: its failure is the plugin's problem, reported as such.
    try {
      defs = await (exported as () => unknown)();
    } catch (e) {
      throw new OnnxOptError('USAGE', `plugin '${spec}': its default export threw: ${String((e as Error)?.message ?? e).split('\n')[0]}`, { cause: e });
    }
  }
  const list = Array.isArray(defs) ? defs : [defs];
  if (list.length === 0 || !list.every(isPassDefinition)) {
    throw new OnnxOptError('USAGE', `plugin '${spec}': the default export must return pass definitions made with definePass`);
  }
  for (const d of list) {
    try {
      registry.register(d);
    } catch (e) {
      throw new OnnxOptError('USAGE', `plugin '${spec}': ${(e as Error).message}`);
    }
  }
  return list.map((d) => d.name);
}

function isPassDefinition(x: unknown): x is PassDefinition {
  return typeof x === 'function' || typeof x === 'object' ? !!x && typeof (x as PassDefinition).create === 'function' && typeof (x as PassDefinition).name === 'string' && typeof (x as PassDefinition).summary === 'string' : false;
}

function resolveSpecifier(spec: string): string {
  const looksLikePath = spec.startsWith('.') || isAbsolute(spec) || /\.(m?js|ts)$/.test(spec);
  if (looksLikePath) {
    const p = resolve(spec);
    if (!existsSync(p)) throw new OnnxOptError('USAGE', `plugin file '${spec}' does not exist`);
    return pathToFileURL(p).href;
  }
  try {
    return pathToFileURL(createRequire(join(process.cwd(), 'noop.js')).resolve(spec)).href;
  } catch {
    throw new OnnxOptError('USAGE', `plugin package '${spec}' is not installed in ${process.cwd()}`);
  }
}
