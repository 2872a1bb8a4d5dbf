/**
 * Dependency hygiene (see AUDIT.md): installing reaches nothing beyond the npm registry.
 * - Every lockfile entry is pinned by a sha512 integrity hash, and any `resolved` URL is on
 *   https://registry.npmjs.org/ (the lockfile omits registry URLs: npm's
 *   omit-lockfile-registry-resolved; entries then come from the configured registry, checked
 *   against the hash). No git, file, http or tarball sources; no links outside the project.
 * - package.json names only registry semver ranges.
 * - Only known packages run install scripts, and the one that would download from outside the
 *   registry (onnxruntime-node's CUDA binaries from NuGet) is told to skip it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  hasInstallScript?: boolean;
}

const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockEntry> };
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
const entries = Object.entries(lock.packages).filter(([k]) => k !== '');
const REGISTRY = 'https://registry.npmjs.org/';

/** Packages allowed to run install scripts, and why that is safe. */
const INSTALL_SCRIPTS: Record<string, string> = {
  // Dev only: checks that its platform binary (an optional @esbuild/* registry package) is present.
  'node_modules/esbuild': 'dev',
  // Downloads CUDA binaries from NuGet on linux/x64 unless told to skip: .npmrc does.
  'node_modules/onnxruntime-node': 'prod',
  // Dev only (transformers.js → onnxruntime-web): reads package.json files to warn about version schemes; no network.
  'node_modules/protobufjs': 'dev',
};

describe('the lockfile pins everything to the npm registry', () => {
  it('is a v2+ lockfile with entries', () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    expect(entries.length).toBeGreaterThan(50);
  });

  it('every resolved URL is on https://registry.npmjs.org/, and every entry has a sha512 integrity hash', () => {
    const offRegistry = entries.filter(([, e]) => e.resolved !== undefined && !e.link && !e.resolved.startsWith(REGISTRY)).map(([k, e]) => `${k}: ${e.resolved}`);
    expect(offRegistry).toEqual([]);
    const unpinned = entries.filter(([, e]) => !e.link && !/^sha512-[A-Za-z0-9+/]+=*$/.test(e.integrity ?? '')).map(([k]) => k);
    expect(unpinned).toEqual([]);
    // Registry tarball URLs name the package they are for.
    for (const [k, e] of entries) {
      if (!e.resolved) continue;
      const name = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
      expect(e.resolved.startsWith(`${REGISTRY}${name}/-/`), k).toBe(true);
    }
  });

  it('no entry is a link out of the project, and versions are plain semver', () => {
    expect(entries.filter(([, e]) => e.link).map(([k]) => k)).toEqual([]);
    const odd = entries.filter(([, e]) => !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(e.version ?? '')).map(([k, e]) => `${k}@${e.version}`);
    expect(odd).toEqual([]);
  });

  it('package.json names only registry semver ranges (no git, file, URL or GitHub shorthand)', () => {
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides']) {
      for (const [name, spec] of Object.entries(pkg[field] ?? {})) {
        expect(typeof spec === 'string' && /^[~^<>=\s\d.*xX|-]+[0-9A-Za-z.-]*$/.test(spec), `${field}.${name}: ${JSON.stringify(spec)}`).toBe(true);
      }
    }
  });

  it('only known packages run install scripts, and onnxruntime-node is told not to download', () => {
    const withScripts = Object.fromEntries(entries.filter(([, e]) => e.hasInstallScript).map(([k, e]) => [k, e.dev ? 'dev' : 'prod']));
    expect(withScripts).toEqual(INSTALL_SCRIPTS);
    const npmrc = readFileSync(join(REPO, '.npmrc'), 'utf8');
    expect(npmrc).toMatch(/^onnxruntime-node-install\s*=\s*skip\s*$/m);
    // No registry other than npm's, should a registry line appear.
    for (const m of npmrc.matchAll(/^\s*(?:@[^:]+:)?registry\s*=\s*(\S+)/gm)) expect(m[1]!.replace(/\/?$/, '/')).toBe(REGISTRY);
  });
});
