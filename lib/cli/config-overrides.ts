// Config overrides on a command line: `--key value` pairs that lib/io/config.ts applies over the YAML file.
import type { parseArgs } from 'node:util';

type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/**
 * The overrides among parseArgs tokens (parsed with `strict: false, tokens: true`), in command-line order: every
 * option the command does not take itself (`own`), plus those of its own options that are config keys too
 * (`alsoConfig`), and every positional.
 */
export function configOverrides(tokens: readonly ArgToken[] | undefined, own: ReadonlySet<string>, alsoConfig: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && (!own.has(t.name) || alsoConfig.includes(t.name))) {
      out.push(`--${t.name}`);
      if (t.value !== undefined) out.push(t.value);
    } else if (t.kind === 'positional') out.push(t.value);
  }
  return out;
}
