// NaN/Inf weights are found on their bit patterns (every float dtype, any alignment, across read chunks) and refused
// when a model folder or adapter is loaded, naming the file and tensor; LFM2_ALLOW_NONFINITE_WEIGHTS=1 loads anyway.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ALLOW_NONFINITE_ENV } from '../lib/engine/finite-weights.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { LfmModel } from '../lib/engine/model.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { bf16ToF32, f16ToF32 } from '../lib/io/dtypes.ts';
import { countNonFinite, scanSafetensors } from '../lib/io/nonfinite.ts';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../lib/io/safetensors.ts';
import { freshRandom } from './util/random.ts';
import { tempDir } from './util/temp-dir.ts';

const root = join(import.meta.dirname, '..');
const dir = tempDir('lfm2-nonfinite-');

/** Counts by decoding every value: the slow, obvious reference. */
function reference(bytes: Uint8Array, dtype: 'BF16' | 'F16' | 'F32' | 'F64'): { nan: number; inf: number } {
  const copy = new Uint8Array(bytes); // aligned
  const values: number[] =
    dtype === 'F32' ? [...new Float32Array(copy.buffer)]
    : dtype === 'F64' ? [...new Float64Array(copy.buffer)]
    : [...new Uint16Array(copy.buffer)].map(dtype === 'BF16' ? bf16ToF32 : f16ToF32);
  return { nan: values.filter(Number.isNaN).length, inf: values.filter((v) => v === Infinity || v === -Infinity).length };
}

describe('countNonFinite', () => {
  const { rand, tag } = freshRandom();
  const widths = { BF16: 2, F16: 2, F32: 4, F64: 8 } as const;

  for (const dtype of ['BF16', 'F16', 'F32', 'F64'] as const) {
    it(`${dtype}: matches decoding on random bit patterns, odd lengths and unaligned views`, () => {
      for (let trial = 0; trial < 40; trial++) {
        const n = 1 + Math.floor(rand() * 300);
        const bytes = new Uint8Array(n * widths[dtype] + 3);
        // Mostly finite, with runs of all-ones exponents (NaN and Inf patterns) sprinkled in.
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
        for (let k = 0; k < 6; k++) {
          const at = 1 + Math.floor(rand() * n) * widths[dtype];
          const top = at + widths[dtype] - 1;
          if (dtype === 'BF16') bytes[top] |= 0x7f, (bytes[top - 1] |= 0x80);
          if (dtype === 'F16') bytes[top] |= 0x7c;
          if (dtype === 'F32') bytes[top] |= 0x7f, (bytes[top - 1] |= 0x80);
          if (dtype === 'F64') bytes[top] |= 0x7f, (bytes[top - 1] |= 0xf0);
          if (rand() < 0.5) for (let j = at; j < top - 1; j++) bytes[j] = 0; // an infinity when the top bits allow
        }
        const view = bytes.subarray(1, 1 + n * widths[dtype]); // byteOffset 1: never aligned
        expect(countNonFinite(view, dtype), tag(`${dtype} n=${n}`)).toEqual(reference(view, dtype));
      }
    });
  }

  it('exact patterns: quiet and signalling NaN, both infinities, largest finite', () => {
    const bf16 = new Uint16Array([0x7fc0, 0x7f81, 0x7f80, 0xff80, 0x7f7f, 0xff7f, 0x0000, 0x8000, 0x3f80]);
    expect(countNonFinite(new Uint8Array(bf16.buffer), 'BF16')).toEqual({ nan: 2, inf: 2 });
    const f16 = new Uint16Array([0x7e00, 0x7c01, 0x7c00, 0xfc00, 0x7bff]);
    expect(countNonFinite(new Uint8Array(f16.buffer), 'F16')).toEqual({ nan: 2, inf: 2 });
    const f32 = new Float32Array([NaN, Infinity, -Infinity, 3.4028234663852886e38, -0, 1e-45]);
    expect(countNonFinite(new Uint8Array(f32.buffer), 'F32')).toEqual({ nan: 1, inf: 2 });
    const f64 = new Float64Array([NaN, -Infinity, Number.MAX_VALUE, 5e-324]);
    expect(countNonFinite(new Uint8Array(f64.buffer), 'F64')).toEqual({ nan: 1, inf: 1 });
    // Integer dtypes hold no NaN: 0xff bytes are just numbers there.
    expect(countNonFinite(new Uint8Array(8).fill(0xff), 'I32')).toEqual({ nan: 0, inf: 0 });
  });
});

describe('scanSafetensors', () => {
  it('finds values past the 16 MiB read chunk and hashes the whole file in the same pass', async () => {
    const p = join(dir, 'big.safetensors');
    const n = (17 << 20) / 4 + 5; // one F32 tensor spanning two reads
    const big = new Float32Array(n).fill(0.5);
    big[(16 << 20) / 4 - 1] = NaN; // last value of the first read
    big[(16 << 20) / 4] = -Infinity; // first value of the second
    big[n - 1] = NaN;
    const tensors: TensorToWrite[] = [
      { name: 'big', dtype: 'F32', shape: [n], data: big },
      { name: 'ok', dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0, 0x8000]) },
      { name: 'half', dtype: 'F16', shape: [2], data: new Uint16Array([0x7c00, 0x3c00]) },
      { name: 'ids', dtype: 'I64', shape: [2], data: new BigInt64Array([-1n, -1n]) },
    ];
    writeSafetensors(p, tensors);
    const r = await scanSafetensors(p, { sha256: true });
    expect(r.bad).toEqual([
      { name: 'big', nan: 2, inf: 1 },
      { name: 'half', nan: 0, inf: 1 },
    ]);
    expect(r.sha256).toBe(createHash('sha256').update(readFileSync(p)).digest('hex'));
    expect(r.size).toBe(readFileSync(p).length);
  });
});

describe('model folders with NaN/Inf weights are refused at load', () => {
  const model = join(dir, 'nan-model');
  writeRandomModel(model, presetConfig('tiny'), { seed: 3, dtype: 'bf16', std: 0.1 });
  const st = readSafetensors(join(model, 'model.safetensors'));
  const tensors: TensorToWrite[] = [...st.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data) }));
  const target = tensors.find((t) => t.name === 'model.layers.3.feed_forward.w1.weight')!;
  (target.data as Buffer).writeUInt16LE(0x7fc0, 2 * 17); // one NaN
  writeSafetensors(join(model, 'model.safetensors'), tensors);
  const message = /nan-model: model.safetensors: tensor model.layers.3.feed_forward.w1.weight has 1 NaN \/ 0 Inf values/;

  afterEach(() => {
    delete process.env[ALLOW_NONFINITE_ENV];
    vi.restoreAllMocks();
  });

  it('LfmModel.load names the file and tensor; LFM2_ALLOW_NONFINITE_WEIGHTS=1 loads with a warning', async () => {
    await expect(LfmModel.load(model)).rejects.toThrow(message);
    await expect(LfmModel.load(model)).rejects.toThrow(/set LFM2_ALLOW_NONFINITE_WEIGHTS=1 to load it anyway/);
    process.env[ALLOW_NONFINITE_ENV] = '1';
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const m = await LfmModel.load(model);
    expect(m.config.vocabSize).toBe(512);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^warning: .*model.safetensors: tensor model.layers.3.feed_forward.w1.weight has 1 NaN .*loading it anyway/));
  });

  it('a sharded folder is checked shard by shard', async () => {
    const sharded = join(dir, 'sharded');
    writeRandomModel(sharded, presetConfig('tiny'), { seed: 3, dtype: 'bf16', std: 0.1 });
    const half = Math.floor(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((ts, i) => {
      const f = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(sharded, f), ts);
      for (const t of ts) weightMap[t.name] = f;
    });
    writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    rmSync(join(sharded, 'model.safetensors'));
    const shard = weightMap['model.layers.3.feed_forward.w1.weight'];
    await expect(LfmModel.load(sharded)).rejects.toThrow(new RegExp(`${shard}: tensor model.layers.3.feed_forward.w1.weight has 1 NaN`));
  });

  it('`lfm2-rl logits` exits non-zero naming the tensor instead of printing NaN logits', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'lfm2-rl.js'), 'logits', '--model', model, '--tokens', '1,2,3', '--out', join(dir, 'l.safetensors')], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
  });
});
