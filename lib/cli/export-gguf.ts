// `lfm2-rl export-gguf --model DIR --out FILE.gguf [--dtype f32|f16|bf16]`: writes a GGUF file that llama.cpp (and
// node-llama-cpp) load as architecture "lfm2". Norms and conv kernels stay F32; linear weights and the embedding
// take --dtype (default f32).
import { parseArgs } from 'node:util';
import { exportLfm2Gguf, type ExportDtype } from '../io/lfm2-gguf.ts';

export const summary = 'export a model folder (HF layout) to a llama.cpp GGUF file';

const usage = 'usage: lfm2-rl export-gguf --model DIR --out FILE.gguf [--dtype f32|f16|bf16]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      dtype: { type: 'string', default: 'f32' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.model || !values.out) throw new Error(`--model and --out are required\n${usage}`);
  if (values.dtype !== 'f32' && values.dtype !== 'f16' && values.dtype !== 'bf16') {
    throw new Error(`--dtype must be f32, f16 or bf16, got '${values.dtype}'\n${usage}`);
  }
  const t0 = performance.now();
  const r = exportLfm2Gguf(values.model, values.out, values.dtype as ExportDtype);
  console.log(
    `export-gguf: ${r.tensors} tensors, ${r.parameters.toLocaleString('en-US')} parameters, ${values.dtype} → ${values.out} ` +
      `(${(r.bytes / 2 ** 20).toFixed(1)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return 0;
}
