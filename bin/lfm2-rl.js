#!/usr/bin/env node
// Entry point: runs the TypeScript CLI through tsx so no separate compile step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../lib/cli/main.ts');
