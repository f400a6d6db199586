// Lists the CPU sources of the addon for bindings.gyp (gyp has no globbing). Same set as CMakeLists.txt:
// `portable` = everything except SIMD files, `avx512` / `avx2` = files compiled with those ISA flags.
// Paths are printed relative to the directory node-gyp runs in (given as argv[3], default: the repository root).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kind = process.argv[2] ?? 'portable';
const from = process.argv[3] ? join(root, process.argv[3]) : root;
const dirs = ['native/core', 'native/io', 'native/model', 'native/backend', 'native/binding'];

function walk(dir, recursive) {
  const out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      if (recursive && e !== 'cuda' && e !== 'cuda_emu') out.push(...walk(p, true));
    } else if (e.endsWith('.cpp')) out.push(p);
  }
  return out;
}

const files = new Set();
for (const d of dirs) for (const f of walk(join(root, d), true)) files.add(f);
const pick = [...files].filter((f) =>
  kind === 'avx512' ? f.endsWith('_avx512.cpp') : kind === 'avx2' ? f.endsWith('_avx2.cpp') : !/_avx(512|2)\.cpp$/.test(f),
);
console.log(pick.map((f) => relative(from, f)).join('\n'));
