import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { configOverrides } from '../lib/cli/config-overrides.ts';

const tokensOf = (args: string[]) =>
  parseArgs({ args, options: { out: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean' } }, strict: false, tokens: true }).tokens;

describe('configOverrides', () => {
  it('passes through, in order, options the command does not take and positionals', () => {
    const t = tokensOf(['--out', 'f.jsonl', '--learning_rate', '1e-3', '--sft.epochs=2', 'extra', '--help']);
    expect(configOverrides(t, new Set(['out', 'seed', 'help']))).toEqual(['--learning_rate', '1e-3', '--sft.epochs', '2', 'extra']);
  });

  it('also passes the command’s own options that are config keys too', () => {
    const t = tokensOf(['--seed', '7', '--out', 'f', '--max_steps', '3']);
    expect(configOverrides(t, new Set(['out', 'seed']), ['seed'])).toEqual(['--seed', '7', '--max_steps', '3']);
    expect(configOverrides(t, new Set(['out', 'seed']))).toEqual(['--max_steps', '3']);
  });

  it('gives nothing for no tokens', () => {
    expect(configOverrides(undefined, new Set())).toEqual([]);
  });
});
