import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { getLlama, LlamaLogLevel, readGgufFileInfo, type ControlledEvaluateInputItem, type Llama, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../lib/io/dtypes.ts';
import { GGUF_DEFAULT_ALIGNMENT, GgmlType, readGguf, readGgufTensorData, writeGguf, type GgufValue } from '../lib/io/gguf.ts';
import { readSafetensors, tensorToFloat32 } from '../lib/io/safetensors.ts';
import { randn, rng } from './util/random.ts';
import { tempDir } from './util/temp-dir.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'lfm2-rl.js');
const dir = tempDir('lfm2-gguf-');

function lfm2(args: string[]): string {
  return execFileSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('GGUF writer', () => {
  const r = rng(5);
  const f32 = new Float32Array(3 * 5).map(() => randn(r));
  const f16 = new Uint16Array(7).map(() => f32ToF16(randn(r)));
  const bf16 = new Uint16Array(2 * 2 * 3).map(() => f32ToBf16(randn(r)));
  const kv: Array<[string, GgufValue]> = [
    ['general.architecture', { type: 'STRING', value: 'test ünï' }],
    ['t.u8', { type: 'UINT8', value: 200 }],
    ['t.i8', { type: 'INT8', value: -5 }],
    ['t.u16', { type: 'UINT16', value: 60000 }],
    ['t.i16', { type: 'INT16', value: -30000 }],
    ['t.u32', { type: 'UINT32', value: 4000000000 }],
    ['t.i32', { type: 'INT32', value: -2000000000 }],
    ['t.f32', { type: 'FLOAT32', value: 0.1 }],
    ['t.bool', { type: 'BOOL', value: true }],
    ['t.u64', { type: 'UINT64', value: 12345678901234567890n }],
    ['t.i64', { type: 'INT64', value: -1234567890123n }],
    ['t.f64', { type: 'FLOAT64', value: Math.PI }],
    ['t.arr_i32', { type: 'ARRAY', itemType: 'INT32', values: [0, 0, 8, -1] }],
    ['t.arr_str', { type: 'ARRAY', itemType: 'STRING', values: ['a b', '', 'Ġx'] }],
    ['t.empty', { type: 'ARRAY', itemType: 'FLOAT32', values: [] }],
  ];
  const path = join(dir, 'w.gguf');
  writeGguf(path, kv, [
    { name: 'w.f32', type: 'F32', shape: [3, 5], data: () => new Uint8Array(f32.buffer) },
    { name: 'w.f16', type: 'F16', shape: [7], data: () => new Uint8Array(f16.buffer) },
    { name: 'w.bf16', type: 'BF16', shape: [2, 2, 3], data: () => new Uint8Array(bf16.buffer) },
  ]);

  it('round-trips metadata and tensors through its own reader, with aligned offsets', () => {
    const g = readGguf(path);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(GGUF_DEFAULT_ALIGNMENT);
    for (const [k, v] of kv) {
      const got = g.metadata.get(k)!;
      if (v.type === 'FLOAT32') expect((got as { value: number }).value).toBe(Math.fround(0.1));
      else expect(got).toEqual(v);
    }
    expect(g.tensors.map((t) => [t.name, t.shape, t.type])).toEqual([
      ['w.f32', [3, 5], GgmlType.F32],
      ['w.f16', [7], GgmlType.F16],
      ['w.bf16', [2, 2, 3], GgmlType.BF16],
    ]);
    for (const t of g.tensors) expect(t.fileOffset % GGUF_DEFAULT_ALIGNMENT).toBe(0);
    expect(Buffer.compare(readGgufTensorData(path, g.tensors[0]), Buffer.from(f32.buffer))).toBe(0);
    expect(Buffer.compare(readGgufTensorData(path, g.tensors[1]), Buffer.from(f16.buffer))).toBe(0);
    expect(Buffer.compare(readGgufTensorData(path, g.tensors[2]), Buffer.from(bf16.buffer))).toBe(0);
    // The last tensor is padded too, so the file ends on an alignment boundary.
    expect(statSync(path).size % GGUF_DEFAULT_ALIGNMENT).toBe(0);
  });

  it("is read identically by node-llama-cpp's independent GGUF parser (ne order, offsets, values)", async () => {
    const info = await readGgufFileInfo(path, { readTensorInfo: true, ignoreKeys: [] });
    expect(info.version).toBe(3);
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(md.general.architecture).toBe('test ünï');
    expect(md.t.u32).toBe(4000000000);
    expect(md.t.i16).toBe(-30000);
    expect(md.t.arr_i32).toEqual([0, 0, 8, -1]);
    expect(md.t.arr_str).toEqual(['a b', '', 'Ġx']);
    const g = readGguf(path);
    expect(info.tensorInfo!.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType])).toEqual([
      ['w.f32', [5, 3], GgmlType.F32],
      ['w.f16', [7], GgmlType.F16],
      ['w.bf16', [3, 2, 2], GgmlType.BF16],
    ]);
    const dataStart = g.tensors[0].fileOffset;
    info.tensorInfo!.forEach((t, i) => expect(Number(t.offset) + dataStart).toBe(g.tensors[i].fileOffset));
  });

  it('rejects bad metadata and tensors with clear errors, leaving no file behind', () => {
    const p = join(dir, 'bad.gguf');
    const t = { name: 'x', type: 'F32' as const, shape: [2], data: () => new Uint8Array(8) };
    expect(() => writeGguf(p, [['a', { type: 'UINT8', value: 300 }]], [])).toThrow(/gguf .*bad\.gguf: metadata a: 300 is not a valid UINT8/);
    expect(() => writeGguf(p, [['a', { type: 'UINT32', value: 1.5 }]], [])).toThrow(/not a valid UINT32/);
    expect(() => writeGguf(p, [['a', { type: 'BOOL', value: 1 }]], [])).toThrow(/not a valid BOOL/);
    expect(() => writeGguf(p, [['a', { type: 'STRING', value: 'x' }], ['a', { type: 'STRING', value: 'y' }]], [])).toThrow(/duplicate metadata key a/);
    expect(() => writeGguf(p, [], [t, t])).toThrow(/duplicate tensor name x/);
    expect(() => writeGguf(p, [], [{ ...t, shape: [0] }])).toThrow(/positive dims/);
    expect(() => writeGguf(p, [], [{ ...t, name: 'n'.repeat(64) }])).toThrow(/63 bytes/);
    expect(() => writeGguf(p, [], [{ ...t, data: () => new Uint8Array(12) }])).toThrow(/needs 8 bytes, got 12/);
    expect(() => statSync(p)).toThrow();
    expect(() => statSync(`${p}.tmp`)).toThrow();
  });

  it('reader rejects truncated and non-GGUF files', () => {
    const bytes = readFileSync(path);
    const p = join(dir, 'trunc.gguf');
    execFileSync('dd', [`of=${p}`, 'status=none'], { input: bytes.subarray(0, bytes.length - 40) });
    expect(() => readGguf(p)).toThrow(/data runs past the end of the file/);
    execFileSync('dd', [`of=${p}`, 'status=none'], { input: bytes.subarray(0, 100) });
    expect(() => readGguf(p)).toThrow(/truncated header/);
    execFileSync('dd', [`of=${p}`, 'status=none'], { input: Buffer.alloc(64, 1) });
    expect(() => readGguf(p)).toThrow(/bad magic/);
  });
});

// ---- LFM2 export, checked against llama.cpp (node-llama-cpp's prebuilt CPU binary, never downloaded or built) ----
describe('export-gguf of a tiny LFM2 model', () => {
  // Weights with std 0.3 so the logits spread over ~15 units: a wrong tensor mapping then moves them by O(1).
  // The bf16 model's weights are exact in F16 and BF16, so reduced-precision exports lose nothing in the weights.
  const f32Model = join(dir, 'tiny-f32');
  const bf16Model = join(dir, 'tiny-bf16');
  const tokens = [1, 6, 20, 31, 42, 300, 301, 77, 511, 7, 2, 0, 150, 151];
  let llama: Llama;

  beforeAll(async () => {
    lfm2(['init-model', '--preset', 'tiny', '--seed', '11', '--std', '0.3', '--dtype', 'f32', '--out', f32Model]);
    lfm2(['init-model', '--preset', 'tiny', '--seed', '12', '--std', '0.3', '--dtype', 'bf16', '--out', bf16Model]);
    for (const d of ['f32', 'f16', 'bf16']) {
      lfm2(['export-gguf', '--model', f32Model, '--out', join(dir, `tiny-f32.${d}.gguf`), '--dtype', d]);
      lfm2(['export-gguf', '--model', bf16Model, '--out', join(dir, `tiny-bf16.${d}.gguf`), '--dtype', d]);
    }
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, skipDownload: true });
  });
  afterAll(async () => {
    await llama?.dispose();
  });

  it('writes llama.cpp LFM2 metadata, tensor names, shapes and types', () => {
    const g = readGguf(join(dir, 'tiny-f32.f16.gguf'));
    const md = (k: string) => {
      const v = g.metadata.get(k);
      if (!v) throw new Error(`missing ${k}`);
      return v.type === 'ARRAY' ? v.values : v.value;
    };
    expect(md('general.architecture')).toBe('lfm2');
    expect(md('general.file_type')).toBe(1);
    expect(md('lfm2.embedding_length')).toBe(64);
    expect(md('lfm2.block_count')).toBe(6);
    expect(md('lfm2.feed_forward_length')).toBe(192);
    expect(md('lfm2.attention.head_count')).toBe(4);
    expect(md('lfm2.attention.head_count_kv')).toEqual([0, 0, 2, 0, 2, 0]);
    expect(md('lfm2.shortconv.l_cache')).toBe(3);
    expect(md('lfm2.rope.freq_base')).toBe(1e6);
    expect(md('lfm2.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(md('lfm2.vocab_size')).toBe(512);
    expect(md('lfm2.context_length')).toBe(128000);
    expect(md('tokenizer.ggml.model')).toBe('gpt2');
    expect(md('tokenizer.ggml.pre')).toBe('lfm2');
    const toks = md('tokenizer.ggml.tokens') as string[];
    const types = md('tokenizer.ggml.token_type') as number[];
    expect(toks.length).toBe(512);
    expect([toks[0], toks[1], toks[7]]).toEqual(['<|pad|>', '<|startoftext|>', '<|im_end|>']);
    expect([types[0], types[1], types[7], types[100]]).toEqual([3, 3, 3, 1]);
    expect((md('tokenizer.ggml.merges') as string[]).every((m) => m.split(' ').length === 2)).toBe(true);
    expect([md('tokenizer.ggml.bos_token_id'), md('tokenizer.ggml.eos_token_id'), md('tokenizer.ggml.padding_token_id')]).toEqual([1, 7, 0]);

    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(g.tensors.length).toBe(2 + 4 * 8 + 2 * 11); // globals + 4 conv layers + 2 attention layers
    const expectT = (name: string, shape: number[], type: number) => {
      const t = byName.get(name);
      expect(t, name).toBeDefined();
      expect([t!.shape, t!.type], name).toEqual([shape, type]);
    };
    expectT('token_embd.weight', [512, 64], GgmlType.F16);
    expectT('token_embd_norm.weight', [64], GgmlType.F32);
    expectT('blk.0.attn_norm.weight', [64], GgmlType.F32);
    expectT('blk.0.shortconv.in_proj.weight', [192, 64], GgmlType.F16);
    expectT('blk.0.shortconv.conv.weight', [64, 3], GgmlType.F32);
    expectT('blk.0.shortconv.out_proj.weight', [64, 64], GgmlType.F16);
    expectT('blk.2.attn_q.weight', [64, 64], GgmlType.F16);
    expectT('blk.2.attn_k.weight', [32, 64], GgmlType.F16);
    expectT('blk.2.attn_v.weight', [32, 64], GgmlType.F16);
    expectT('blk.2.attn_output.weight', [64, 64], GgmlType.F16);
    expectT('blk.2.attn_q_norm.weight', [16], GgmlType.F32);
    expectT('blk.2.attn_k_norm.weight', [16], GgmlType.F32);
    expectT('blk.5.ffn_gate.weight', [192, 64], GgmlType.F16);
    expectT('blk.5.ffn_up.weight', [192, 64], GgmlType.F16);
    expectT('blk.5.ffn_down.weight', [64, 192], GgmlType.F16);
    expectT('blk.5.ffn_norm.weight', [64], GgmlType.F32);
    expect(byName.has('output.weight')).toBe(false); // tied head
  });

  it('stores exactly the converted source values (f32 copy, f16/bf16 round to nearest even, conv squeezed)', () => {
    const st = readSafetensors(join(f32Model, 'model.safetensors'));
    const pairs: Array<[string, string]> = [
      ['model.layers.0.feed_forward.w1.weight', 'blk.0.ffn_gate.weight'],
      ['model.layers.0.feed_forward.w3.weight', 'blk.0.ffn_up.weight'],
      ['model.layers.2.self_attn.k_proj.weight', 'blk.2.attn_k.weight'],
      ['model.layers.1.conv.conv.weight', 'blk.1.shortconv.conv.weight'],
      ['model.embedding_norm.weight', 'token_embd_norm.weight'],
    ];
    for (const d of ['f32', 'f16', 'bf16'] as const) {
      const file = join(dir, `tiny-f32.${d}.gguf`);
      const g = readGguf(file);
      for (const [hf, gg] of pairs) {
        const src = tensorToFloat32(st, hf);
        const t = g.tensors.find((x) => x.name === gg)!;
        const raw = readGgufTensorData(file, t);
        for (let i = 0; i < src.length; i += 3) {
          const want =
            t.type === GgmlType.F32 ? src[i] : t.type === GgmlType.F16 ? f16ToF32(f32ToF16(src[i])) : bf16ToF32(f32ToBf16(src[i]));
          const got = t.type === GgmlType.F32 ? raw.readFloatLE(4 * i) : t.type === GgmlType.F16 ? f16ToF32(raw.readUInt16LE(2 * i)) : bf16ToF32(raw.readUInt16LE(2 * i));
          expect(got, `${d} ${gg}[${i}]`).toBe(want);
        }
      }
    }
  });

  /** log-softmax rows of `lfm2-rl logits` and of llama.cpp (F32 KV cache) for the same tokens. */
  async function compare(model: string, gguf: string) {
    const out = join(dir, `logits-${Math.random().toString(36).slice(2)}.safetensors`);
    lfm2(['logits', '--model', model, '--tokens', tokens.join(','), '--out', out]);
    const ours = tensorToFloat32(readSafetensors(out), 'logits', [tokens.length, 512]);
    const m = await llama.loadModel({ modelPath: gguf });
    const ctx = await m.createContext({
      contextSize: 64,
      threads: 1, // correctness only; one thread keeps it fast on a busy machine
      flashAttention: false,
      // llama.cpp's default F16 KV cache alone moves log-probs by ~1e-3; F32 makes the comparison an exact-math one.
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    const input = tokens.map((t): ControlledEvaluateInputItem => [t as Token, { generateNext: { probabilities: true } }]);
    const res = await ctx.getSequence().controlledEvaluate(input);
    let maxAbs = 0;
    let sq = 0;
    let varSum = 0;
    let argmaxAgree = 0;
    for (let p = 0; p < tokens.length; p++) {
      const row = ours.subarray(p * 512, (p + 1) * 512);
      const mx = Math.max(...row);
      let z = 0;
      for (const x of row) z += Math.exp(x - mx);
      const lz = mx + Math.log(z);
      const probs = res[p]!.next.probabilities!;
      expect(probs.size).toBe(512);
      let mean = 0;
      for (const x of row) mean += (x - lz) / 512;
      for (let v = 0; v < 512; v++) {
        const d = Math.log(probs.get(v as Token)!) - (row[v] - lz);
        maxAbs = Math.max(maxAbs, Math.abs(d));
        sq += d * d;
        varSum += (row[v] - lz - mean) ** 2;
      }
      if ([...probs.keys()][0] === row.indexOf(mx)) argmaxAgree++;
    }
    await ctx.dispose();
    await m.dispose();
    return { maxAbs, nrmse: Math.sqrt(sq / varSum), argmaxAgree };
  }

  it('F32 GGUF: llama.cpp log-probs match lfm2-rl logits to float32 accuracy', async () => {
    const r = await compare(f32Model, join(dir, 'tiny-f32.f32.gguf'));
    // Measured 2e-5 (f32 summation orders differ over 6 layers; 5x margin); a wrong mapping (gate/up swap, unsqueezed
    // conv, rope layout, final norm) moves log-probs by O(1).
    expect(r.maxAbs).toBeLessThan(1e-4);
    expect(r.argmaxAgree).toBe(tokens.length);
  });

  it('F16 and BF16 GGUFs of a bf16 model match within the activation rounding llama.cpp applies', async () => {
    // Weights are exact in both formats, but ggml's CPU matmul rounds activations to the weight type
    // (F16: 11-bit, BF16: 8-bit significand), so the error is that rounding carried through 6 layers.
    // Measured NRMSE of log-probs: F16 1.7e-3, BF16 1.5e-2 (bounds below give 2-3x margin); F32 export 1.8e-5 max.
    const f16 = await compare(bf16Model, join(dir, 'tiny-bf16.f16.gguf'));
    const bf16 = await compare(bf16Model, join(dir, 'tiny-bf16.bf16.gguf'));
    const f32 = await compare(bf16Model, join(dir, 'tiny-bf16.f32.gguf'));
    expect(f32.maxAbs).toBeLessThan(1e-4);
    expect(f16.nrmse).toBeLessThan(5e-3);
    expect(bf16.nrmse).toBeLessThan(3e-2);
    // Weights are fresh random each run, so a near-tie between the top two logits (gap below the activation rounding)
    // can flip one position's argmax; the NRMSE bounds above are the real check.
    expect(f16.argmaxAgree).toBeGreaterThanOrEqual(tokens.length - 1);
    expect(bf16.argmaxAgree).toBeGreaterThanOrEqual(tokens.length - 2);
  });

  it("llama.cpp tokenizes text like the model's own tokenizer.json (merges, byte mapping, pre-tokenizer)", async () => {
    const tj = JSON.parse(readFileSync(join(bf16Model, 'tokenizer.json'), 'utf8'));
    const tc = JSON.parse(readFileSync(join(bf16Model, 'tokenizer_config.json'), 'utf8'));
    const hf = new HfTokenizer(tj, tc);
    const m = await llama.loadModel({ modelPath: join(dir, 'tiny-bf16.f32.gguf') });
    const texts = [
      "click('13')",
      "fill('42', 'hello world') press('12', 'Enter')",
      'Goal: Click the button.\n[5] button \'Click Me!\'\n\nWhat action do you take? 12345 ünïcödé 😀',
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    ];
    for (const text of texts) {
      const want = hf.encode(text, { add_special_tokens: false }).ids;
      expect(Array.from(m.tokenize(text, true)), text).toEqual(want);
    }
    await m.dispose();
  });
});
