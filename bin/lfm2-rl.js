#!/usr/bin/env node
// Entry point. In a source checkout (lib/ present) the TypeScript CLI runs through tsx, so edits need no compile
// step; an installed package has no lib/ and runs the compiled dist/ (built by `npm run build:js` before packing).
import { existsSync } from 'node:fs';

const source = new URL('../lib/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/cli/main.js', import.meta.url).href);
}
