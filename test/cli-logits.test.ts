// `lfm2-rl init-model` and `lfm2-rl logits` as processes: deterministic model folders in the HF layout, and the
// logits contract (tensor `logits`, F32, [T, vocab], exact path) matching the engine and the float64 reference.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { readSafetensors, tensorToFloat32 } from '../lib/io/safetensors.ts';
import { loadRefModel, refForward } from './ref/lfm2-ref.ts';
import { tempDir } from './util/temp-dir.ts';

const root = join(import.meta.dirname, '..');
const dir = tempDir('lfm2-cli-');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'lfm2-rl.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('init-model', () => {
  it('writes a deterministic HF-layout folder for a seed', () => {
    const a = join(dir, 'a'), b = join(dir, 'b'), c = join(dir, 'c');
    expect(cli('init-model', '--preset', 'tiny', '--seed', '7', '--out', a).code).toBe(0);
    expect(cli('init-model', '--preset', 'tiny', '--seed', '7', '--out', b).code).toBe(0);
    expect(cli('init-model', '--preset', 'tiny', '--seed', '8', '--out', c).code).toBe(0);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(existsSync(join(a, f))).toBe(true);
    expect(readFileSync(join(a, 'model.safetensors'))).toEqual(readFileSync(join(b, 'model.safetensors')));
    expect(readFileSync(join(a, 'model.safetensors')).equals(readFileSync(join(c, 'model.safetensors')))).toBe(false);
    const st = readSafetensors(join(a, 'model.safetensors'));
    expect(st.tensors.has('lm_head.weight')).toBe(false);
    expect(st.tensors.get('model.layers.0.conv.conv.weight')!.shape).toEqual([64, 1, 3]);
    expect(st.tensors.get('model.embed_tokens.weight')!.dtype).toBe('BF16');
    const cfg = JSON.parse(readFileSync(join(a, 'config.json'), 'utf8'));
    expect(cfg.model_type).toBe('lfm2');
    expect(cfg.layer_types).toEqual(['conv', 'conv', 'full_attention', 'conv', 'full_attention', 'conv']);
  });

  it('rejects bad arguments with a message and a non-zero exit code', () => {
    const r = cli('init-model', '--preset', 'huge', '--out', join(dir, 'x'));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--preset must be one of tiny, small, lfm2-350m/);
    expect(cli('init-model', '--preset', 'tiny').err).toMatch(/--out DIR is required/);
  });
});

describe('logits', () => {
  it('writes F32 [T, vocab] logits equal to the engine and close to the float64 reference', async () => {
    const m = join(dir, 'f32');
    expect(cli('init-model', '--preset', 'tiny', '--seed', '3', '--out', m, '--dtype', 'f32', '--std', '0.2').code).toBe(0);
    const out = join(dir, 'logits.safetensors');
    const tokens = [1, 6, 300, 7, 42, 511];
    const r = cli('logits', '--model', m, '--tokens', tokens.join(','), '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const st = readSafetensors(out);
    const t = st.tensors.get('logits')!;
    expect(t.dtype).toBe('F32');
    expect(t.shape).toEqual([6, 512]);
    const got = tensorToFloat32(st, 'logits');
    const model = await LfmModel.load(m);
    expect(got).toEqual(await model.logits(tokens));
    const want = refForward(loadRefModel(m), tokens).logits;
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < got.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
      maxRef = Math.max(maxRef, Math.abs(want[i]));
    }
    // Same bound as test/forward-model.test.ts (FP32 exact path vs float64).
    expect(maxDiff).toBeLessThan(2e-5 * maxRef);
  });

  it('reports bad token lists and out-of-vocabulary ids', () => {
    const m = join(dir, 'a');
    expect(cli('logits', '--model', m, '--tokens', '1,x', '--out', join(dir, 'o.safetensors')).err).toMatch(/comma-separated list/);
    const r = cli('logits', '--model', m, '--tokens', '1,600', '--out', join(dir, 'o.safetensors'));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/token id 600 .*outside the vocabulary \[0, 512\)/);
    expect(existsSync(join(dir, 'o.safetensors'))).toBe(false);
  });
});
