// `lfm2-rl <command> [options]`: dispatches to one module per subcommand in lib/cli/.
// Each module exports `run(argv: string[]): Promise<number | void>` and `summary: string`.
const commands: Record<string, () => Promise<{ run(argv: string[]): Promise<number | void>; summary: string }>> = {
  'init-model': () => import('./init-model.ts'),
  logits: () => import('./logits.ts'),
  generate: () => import('./generate.ts'),
  train: () => import('./train.ts'),
  demos: () => import('./demos.ts'),
  sft: () => import('./sft.ts'),
  eval: () => import('./eval.ts'),
  'serve-env': () => import('./serve-env.ts'),
  'export-gguf': () => import('./export-gguf.ts'),
  'verify-checkpoint': () => import('./verify-checkpoint.ts'),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log('usage: lfm2-rl <command> [options]\n\ncommands:');
    for (const [name, load] of Object.entries(commands)) {
      let summary = '';
      try {
        summary = (await load()).summary;
      } catch {
        summary = '(unavailable)';
      }
      console.log(`  ${name.padEnd(17)} ${summary}`);
    }
    return cmd ? 0 : 1;
  }
  const load = commands[cmd];
  if (!load) {
    console.error(`lfm2-rl: unknown command '${cmd}' (try --help)`);
    return 2;
  }
  const mod = await load();
  const code = await mod.run(rest);
  return typeof code === 'number' ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    console.error(`lfm2-rl: ${msg}`);
    if (process.env.LFM2_DEBUG && err instanceof Error) console.error(err.stack);
    process.exitCode = 1;
  },
);
