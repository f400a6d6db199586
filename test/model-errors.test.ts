// Bad model folders and bad calls give clear errors (naming the tensor/file/argument), never a crash; the process
// and any loaded model keep working afterwards.
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../lib/io/safetensors.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-err-');
const good = join(dir, 'good');
let model: LfmModel;
beforeAll(async () => {
  writeRandomModel(good, presetConfig('tiny'), { seed: 2, dtype: 'bf16' });
  model = await LfmModel.load(good);
});

/** A copy of the good model folder whose safetensors tensors are edited by `edit`. */
function variant(name: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  copyFileSync(join(good, 'config.json'), join(d, 'config.json'));
  const st = readSafetensors(join(good, 'model.safetensors'));
  const tensors: TensorToWrite[] = [...st.tensors].map(([n, t]) => ({ name: n, dtype: t.dtype, shape: t.shape, data: t.data }));
  writeSafetensors(join(d, 'model.safetensors'), edit(tensors), { format: 'pt' });
  return d;
}

async function expectStillWorks() {
  const r = await model.forward([[1, 2, 3]]);
  expect(r.logits.length).toBe(512);
  expect(r.logits.every(Number.isFinite)).toBe(true);
}

describe('loading', () => {
  it('truncated safetensors', async () => {
    const d = variant('truncated', (t) => t);
    const f = join(d, 'model.safetensors');
    truncateSync(f, readFileSync(f).length - 100);
    await expect(LfmModel.load(d)).rejects.toThrow(/model\.safetensors/);
    await expectStillWorks();
  });

  it('corrupted header', async () => {
    const d = variant('corrupt', (t) => t);
    const f = join(d, 'model.safetensors');
    const bytes = readFileSync(f);
    bytes.write('#garbage#', 8 + 1); // inside the JSON header
    writeFileSync(f, bytes);
    await expect(LfmModel.load(d)).rejects.toThrow(/model\.safetensors/);
    await expectStillWorks();
  });

  it('wrong tensor shape names the tensor and the file', async () => {
    const name = 'model.layers.2.self_attn.q_proj.weight';
    const d = variant('shape', (ts) =>
      ts.map((t) => (t.name === name ? { ...t, shape: [32, 128], data: Buffer.from(t.data as Buffer).subarray(0, 32 * 128 * 2) } : t)),
    );
    await expect(LfmModel.load(d)).rejects.toThrow(
      /tensor model\.layers\.2\.self_attn\.q_proj\.weight in .*model\.safetensors has shape \[32, 128\], expected \[64, 64\]/,
    );
    await expectStillWorks();
  });

  it('missing tensor', async () => {
    const d = variant('missing', (ts) => ts.filter((t) => t.name !== 'model.layers.1.ffn_norm.weight'));
    await expect(LfmModel.load(d)).rejects.toThrow(/missing tensor model\.layers\.1\.ffn_norm\.weight in .*model\.safetensors/);
  });

  it('unexpected tensor', async () => {
    const d = variant('extra', (ts) => [...ts, { name: 'model.layers.9.foo.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) }]);
    await expect(LfmModel.load(d)).rejects.toThrow(/unexpected tensor model\.layers\.9\.foo\.weight/);
  });

  it('accepts an untied lm_head.weight when present', async () => {
    const d = variant('untied', (ts) => {
      const e = ts.find((t) => t.name === 'model.embed_tokens.weight')!;
      return [...ts, { ...e, name: 'lm_head.weight' }];
    });
    const m = await LfmModel.load(d);
    expect(m.info.tensors.map((t) => t.name)).toContain('lm_head.weight');
    // Same values as the tied embedding, so same logits.
    expect((await m.forward([[4, 5]])).logits).toEqual((await model.forward([[4, 5]])).logits);
  });

  it('missing folder, missing or bad config.json', async () => {
    await expect(LfmModel.load(join(dir, 'nope'))).rejects.toThrow(/config\.json/);
    const d = variant('badcfg', (t) => t);
    writeFileSync(join(d, 'config.json'), '{"vocab_size": 512,');
    await expect(LfmModel.load(d)).rejects.toThrow(/config\.json: JSON/);
    const cfg = JSON.parse(readFileSync(join(good, 'config.json'), 'utf8'));
    delete cfg.num_hidden_layers;
    writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
    await expect(LfmModel.load(d)).rejects.toThrow(/missing key "num_hidden_layers"/);
    const d2 = join(dir, 'nofile');
    mkdirSync(d2);
    copyFileSync(join(good, 'config.json'), join(d2, 'config.json'));
    await expect(LfmModel.load(d2)).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('bad load arguments', async () => {
    // @ts-expect-error wrong type on purpose
    expect(() => native().Model.load(42)).toThrow(TypeError);
    // @ts-expect-error wrong option on purpose
    expect(() => native().Model.load(good, { dtype: 'f8' })).toThrow(/dtype/);
    // @ts-expect-error wrong option on purpose
    expect(() => native().Model.load(good, { device: 'gpu' })).toThrow(/option device = 'gpu' must be one of 'auto', 'cpu', 'cuda'/);
  });
});

describe('calls', () => {
  it('memory() is for models on the GPU', () => {
    expect(() => model.native.memory()).toThrow(/device 'cuda' only/);
  });

  it('token id ≥ vocab and negative ids are rejected with the offending id', async () => {
    await expect(model.forward([[1, 2], [3, 512]])).rejects.toThrow(/sequence 1: token id 512 at index 1 is outside the vocabulary \[0, 512\)/);
    await expect(model.forward([[-3]])).rejects.toThrow(/token id -3/);
    await expectStillWorks();
  });

  it('empty sequences and wrong types', async () => {
    await expect(model.forward([[]])).rejects.toThrow(/empty/);
    const nm = model.native;
    // @ts-expect-error wrong type on purpose
    await expect(async () => nm.forward([new Float32Array([1, 2])])).rejects.toThrow(/must be an Int32Array/);
    // @ts-expect-error wrong type on purpose
    await expect(async () => nm.forward('1,2,3')).rejects.toThrow(TypeError);
    await expect(async () => nm.forward([])).rejects.toThrow(/empty/);
    // @ts-expect-error wrong option on purpose
    await expect(async () => nm.forward([Int32Array.of(1)], { logits: 'first' })).rejects.toThrow(/logits/);
    await expect(model.forward([[1.5]])).rejects.toThrow(/not a 32-bit integer/);
    await expectStillWorks();
  });

  it('positions beyond max_position_embeddings are rejected, for fresh sequences and states', async () => {
    const d = variant('shortctx', (t) => t);
    const cfg = JSON.parse(readFileSync(join(good, 'config.json'), 'utf8'));
    cfg.max_position_embeddings = 16;
    writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
    const m = await LfmModel.load(d);
    await expect(m.forward([new Array(17).fill(1)])).rejects.toThrow(/17 positions exceed the model's context \(max_position_embeddings = 16\)/);
    expect((await m.forward([new Array(16).fill(1)])).logits.length).toBe(512);
    const s = m.createState();
    await m.prefill(s, new Array(10).fill(2));
    await expect(m.prefill(s, new Array(7).fill(2))).rejects.toThrow(/exceed the model's context/);
    expect(s.length).toBe(10);
  });

  it('state misuse: duplicates, foreign model, busy, length mismatch; a rejected call leaves the state unchanged', async () => {
    const other = await LfmModel.load(good);
    const s = model.createState();
    await model.prefill(s, [1, 2, 3]);
    await expect(async () => model.advance([s, s], [[1], [2]])).rejects.toThrow(/same generation state/);
    await expect(async () => other.advance([s], [[1]])).rejects.toThrow(/another model/);
    await expect(model.decodeBatch([s], [1, 2])).rejects.toThrow(/1 states but 2 tokens/);
    // @ts-expect-error wrong type on purpose
    await expect(async () => model.advance([{}], [[1]])).rejects.toThrow(/not a GenerationState/);
    const pending = model.prefill(s, [4]);
    expect(() => s.fork()).toThrow(/in use by a pending call/);
    expect(() => s.free()).toThrow(/in use by a pending call/);
    await pending;
    // A bad token: rejected before any state changes.
    const ref = s.fork();
    await expect(model.prefill(s, [5, 9999])).rejects.toThrow(/outside the vocabulary/);
    expect(s.length).toBe(4);
    expect(await model.decodeBatch([s], [6])).toEqual(await model.decodeBatch([ref], [6]));
    const GenerationState = (native() as unknown as { GenerationState: new () => unknown }).GenerationState;
    expect(() => new GenerationState()).toThrow(/createState/);
  });
});
