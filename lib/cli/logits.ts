// `lfm2-rl logits --model DIR --tokens 1,2,3 --out FILE.safetensors [--precision exact|fast]`:
// F32 logits of every position, tensor `logits` [T, vocab]. A stable contract (docs/architecture.md §4.5): the default is the
// exact path (FP32 activations, weights upcast exactly).
import { parseArgs } from 'node:util';
import { LfmModel } from '../engine/model.ts';
import { writeSafetensors } from '../io/safetensors.ts';

export const summary = 'write the logits of every position of a token sequence to a safetensors file';

const usage = 'usage: lfm2-rl logits --model DIR --tokens 1,2,3 --out FILE.safetensors [--precision exact|fast]';

export function parseTokenList(s: string): Int32Array {
  const parts = s.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new Error(`--tokens must be a comma-separated list of non-negative integers, got '${s}'`);
  }
  return Int32Array.from(parts.map(Number));
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      tokens: { type: 'string' },
      out: { type: 'string' },
      precision: { type: 'string', default: 'exact' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.model || !values.tokens || !values.out) throw new Error(`--model, --tokens and --out are required\n${usage}`);
  if (values.precision !== 'exact' && values.precision !== 'fast') throw new Error(`--precision must be exact or fast\n${usage}`);
  const tokens = parseTokenList(values.tokens);
  const model = await LfmModel.load(values.model);
  const logits = await model.logits(tokens, { precision: values.precision });
  const V = model.config.vocabSize;
  writeSafetensors(values.out, [{ name: 'logits', dtype: 'F32', shape: [tokens.length, V], data: logits }], {
    format: 'pt',
    precision: values.precision,
  });
  console.log(`logits: [${tokens.length}, ${V}] → ${values.out}`);
  return 0;
}
