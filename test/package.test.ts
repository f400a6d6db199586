// The package as another project sees it: what the code that ships may import (runtime dependencies only, so the
// heavy benchmark-only packages stay devDependencies).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function filesUnder(dir: string, exts: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, exts));
    else if (exts.test(name)) out.push(p);
  }
  return out;
}

/** Bare package names a source file imports (static, dynamic and type imports): `@scope/name` or `name`. */
function importedPackages(text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'([^'./][^']*)'/g)].map((m) => m[1]!);
  return specs
    .filter((s) => !s.startsWith('node:') && !builtinModules.includes(s.split('/')[0]!))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

describe('runtime dependencies', () => {
  it('code that ships (lib/, bin/, scripts/) imports only packages listed in dependencies', () => {
    const shipped = [...filesUnder(join(root, 'lib'), /\.ts$/), ...filesUnder(join(root, 'bin'), /\.js$/), ...filesUnder(join(root, 'scripts'), /\.(mjs|js|ts)$/)];
    expect(shipped.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const f of shipped) {
      for (const name of importedPackages(readFileSync(f, 'utf8'))) {
        if (!(name in pkg.dependencies)) missing.push(`${relative(root, f)} imports '${name}'`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('node-llama-cpp (the llama.cpp peer of benchmarks and the GGUF test) is a devDependency', () => {
    expect(pkg.dependencies['node-llama-cpp']).toBeUndefined();
    expect(pkg.devDependencies['node-llama-cpp']).toBeDefined();
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    expect(lock.packages['node_modules/node-llama-cpp']?.dev).toBe(true);
  });

  it('the import scan sees every import form', () => {
    const text = "import a from 'ws';\nimport type { B } from '@huggingface/hub/x';\nconst c = await import('yaml');\nimport 'side-effect';\nimport { d } from './local.ts';\nimport e from 'node:fs';\nimport f from 'path';";
    expect(importedPackages(text)).toEqual(['ws', '@huggingface/hub', 'yaml', 'side-effect']);
  });
});
