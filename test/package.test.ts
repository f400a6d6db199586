// The package as another project sees it: the code that ships imports runtime dependencies only (the heavy
// benchmark-only packages stay devDependencies); `import … from 'lfm2-rl'` works from plain Node and from TypeScript
// against the compiled dist/ (built here by `npm run build:js`, as `npm pack` does); an installed copy (no lib/) runs
// the compiled CLI; and `npm pack` ships dist/, the native sources and build scripts but no tests or benchmarks.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './util/temp-dir.ts';

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
  const code = text.replace(/^\s*(\/\/|\*|\/\*).*$/gm, '');
  const specs = [...code.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'([^'./][^']*)'/g)].map((m) => m[1]!);
  return specs
    .filter((s) => !s.startsWith('node:') && !builtinModules.includes(s.split('/')[0]!))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

describe('runtime dependencies', () => {
  it('code that ships (lib/, bin/, scripts/) imports only packages listed in dependencies', () => {
    // bin/ runs lib/ through tsx only in a source checkout, where the devDependencies are installed.
    const allowed: Record<string, string[]> = { 'bin/lfm2-rl.js': ['tsx'] };
    const shipped = [...filesUnder(join(root, 'lib'), /\.ts$/), ...filesUnder(join(root, 'bin'), /\.js$/), ...filesUnder(join(root, 'scripts'), /\.(mjs|js|ts)$/)];
    expect(shipped.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const f of shipped) {
      for (const name of importedPackages(readFileSync(f, 'utf8'))) {
        if (!(name in pkg.dependencies) && !allowed[relative(root, f)]?.includes(name)) missing.push(`${relative(root, f)} imports '${name}'`);
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
    const text = "// import x from 'in-a-comment';\nimport a from 'ws';\nimport type { B } from '@huggingface/hub/x';\nconst c = await import('yaml');\nimport 'side-effect';\nimport { d } from './local.ts';\nimport e from 'node:fs';\nimport f from 'path';";
    expect(importedPackages(text)).toEqual(['ws', '@huggingface/hub', 'yaml', 'side-effect']);
  });
});

const addon = process.env.LFM2_ADDON ?? join(root, 'build', 'Release', 'lfm2_rl.node');
const env = { ...process.env, LFM2_ADDON: addon };

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('the package from another project', () => {
  const dir = tempDir('lfm2-package-');

  beforeAll(() => {
    const r = run('npm', ['run', '--silent', 'build:js'], root);
    expect(r.err + r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('the example runs from plain node against the compiled output', () => {
    const r = run(process.execPath, [join(root, 'examples', 'tiny-grpo.mjs')], root);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^forward: 512 logits, argmax \d+$/);
    expect(lines.slice(1)).toHaveLength(4);
    lines.slice(1).forEach((l, i) => {
      const m = /^step (\d+): reward ([\d.]+) loss (-?[\d.]+) \|grad\| ([\d.]+) embed grad ([\d.]+)$/.exec(l);
      expect(m, l).not.toBeNull();
      expect(Number(m![1])).toBe(i + 1);
    });
    // Rewards vary within the first group, so its gradient cannot be zero.
    expect(Number(/embed grad ([\d.]+)/.exec(lines[1]!)![1])).toBeGreaterThan(0);
  });

  it("a project that depends on it imports the API from 'lfm2-rl', with types", () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(root, join(app, 'node_modules', 'lfm2-rl'), 'dir');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
    const names = ['LfmModel', 'Sampler', 'TrainerEngine', 'EnvPool', 'OpenEnvClient', 'OpenEnvPool', 'trainRun', 'streamTokens', 'loadConfig', 'Tokenizer'];
    writeFileSync(join(app, 'main.mjs'), `import * as api from 'lfm2-rl';\nconsole.log(JSON.stringify(${JSON.stringify(names)}.map((n) => [n, typeof api[n]])));\n`);
    const r = run(process.execPath, ['main.mjs'], app);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual(names.map((n) => [n, 'function']));
    // Resolved through package.json "exports" to dist/, not through tsx.
    const where = run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('lfm2-rl'))"], app);
    expect(where.out.trim()).toMatch(/\/dist\/index\.js$/);

    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { LfmModel, TrainerEngine, type MicroStepResult, type Observation } from 'lfm2-rl';",
        "export async function gradientOf(dir: string): Promise<Float32Array> {",
        "  const t = await TrainerEngine.create(await LfmModel.load(dir), { mode: 'full', optimizer: { learningRate: 1e-3 } });",
        "  return t.gradient('model.embed_tokens.weight');",
        '}',
        "export const clipped = (r: MicroStepResult): number => r.clipRegion;",
        "export const goal = (o: Observation): string => o.goal;",
        '// @ts-expect-error gradient() is typed: a Float32Array is not a string',
        "export const wrong = async (t: TrainerEngine): Promise<string> => t.gradient('x');",
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
        files: ['main.ts'],
      }),
    );
    const tsc = run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app);
    expect(tsc.out + tsc.err).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('an installed copy (bin/ and dist/, no lib/) runs the compiled CLI', () => {
    const pkgDir = join(dir, 'installed');
    for (const p of ['bin', 'dist', 'package.json']) cpSync(join(root, p), join(pkgDir, p), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
    expect(existsSync(join(pkgDir, 'lib'))).toBe(false);
    const cli = join(pkgDir, 'bin', 'lfm2-rl.js');
    const model = join(dir, 'model');
    expect(run(process.execPath, [cli, 'init-model', '--preset', 'tiny', '--out', model], dir).code).toBe(0);
    const r = run(process.execPath, [cli, 'generate', '--model', model, '--prompt', 'hi', '--max-tokens', '4'], dir);
    expect(r.err).toMatch(/^generate: \d+ tokens/);
    expect(r.code).toBe(0);
  });

  it('npm pack ships dist/, the native sources and build scripts, and no tests or benchmarks', () => {
    const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], root);
    expect(r.code).toBe(0);
    const files = (JSON.parse(r.out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of [
      'package.json', 'README.md', 'bin/lfm2-rl.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/engine/trainer-engine.d.ts',
      'CMakeLists.txt', 'bindings.gyp', 'scripts/build-native.mjs', 'scripts/gyp-sources.mjs', 'native/model/lfm2.cpp', 'native/binding/addon.cpp',
      'native/backend/cuda/cuda_model.cu', 'configs/tiny_click_test.yaml', 'examples/tiny-grpo.mjs',
    ]) {
      expect(files, f).toContain(f);
    }
    const unwanted = files.filter((f) => /^(test|bench|lib|build|node_modules|runs)\//.test(f) || f.endsWith('.node'));
    expect(unwanted).toEqual([]);
  });
});
