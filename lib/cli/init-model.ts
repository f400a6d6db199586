// `lfm2-rl init-model --preset tiny|small|lfm2-350m --seed N --out DIR [--dtype bf16|f32] [--std X]`:
// writes a random-weight LFM2 model folder in the Hugging Face layout.
import { parseArgs } from 'node:util';
import { isPresetName, presetConfig, PRESET_NAMES } from '../engine/presets.ts';
import { writeRandomModel } from '../engine/init-weights.ts';
import { parseSeed } from '../io/config.ts';

export const summary = 'write a random-weight LFM2 model folder (HF layout) from a preset';

const usage = `usage: lfm2-rl init-model --preset ${PRESET_NAMES.join('|')} --seed N --out DIR [--dtype bf16|f32] [--std X]`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: 'string' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string' },
      dtype: { type: 'string', default: 'bf16' },
      std: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.preset || !isPresetName(values.preset)) throw new Error(`--preset must be one of ${PRESET_NAMES.join(', ')}\n${usage}`);
  if (!values.out) throw new Error(`--out DIR is required\n${usage}`);
  if (values.dtype !== 'bf16' && values.dtype !== 'f32') throw new Error(`--dtype must be bf16 or f32\n${usage}`);
  const seed = parseSeed(values.seed);
  const std = values.std === undefined ? undefined : Number(values.std);
  if (std !== undefined && !(std > 0)) throw new Error(`--std must be a positive number, got '${values.std}'`);
  const t0 = performance.now();
  const specs = writeRandomModel(values.out, presetConfig(values.preset), { seed, dtype: values.dtype, std });
  const params = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  console.log(
    `init-model: ${values.preset} (${specs.length} tensors, ${params.toLocaleString('en-US')} parameters, ${values.dtype}, seed ${seed}) → ${values.out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return 0;
}
