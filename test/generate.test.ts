// Token streaming (lib/engine/stream.ts) and `lfm2-rl generate`: the stream yields exactly the Sampler's tokens for
// the same prompt, seed and filters; the CLI prints their text as it goes, with the chat template on --chat.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { run as runGenerate } from '../lib/cli/generate.ts';
import { LfmModel } from '../lib/engine/model.ts';
import { Sampler, type GenerateOptions } from '../lib/engine/sampler.ts';
import { streamTokens, type StreamedToken } from '../lib/engine/stream.ts';
import { Tokenizer } from '../lib/engine/tokenizer.ts';
import { tempDir } from './util/temp-dir.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'lfm2-rl.js');
const dir = tempDir('lfm2-generate-');
const modelDir = join(dir, 'tiny');
let model: LfmModel;
let tokenizer: Tokenizer;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function collect(gen: AsyncGenerator<StreamedToken, string>): Promise<{ tokens: StreamedToken[]; finish: string }> {
  const tokens: StreamedToken[] = [];
  for (;;) {
    const s = await gen.next();
    if (s.done) return { tokens, finish: s.value };
    tokens.push(s.value);
  }
}

beforeAll(async () => {
  // std 0.3: peaked enough that min-p and the repetition penalty change which tokens are chosen.
  expect(cli('init-model', '--preset', 'tiny', '--seed', '4', '--std', '0.3', '--out', modelDir).code).toBe(0);
  model = await LfmModel.load(modelDir);
  tokenizer = Tokenizer.fromDir(modelDir);
});

describe('streamTokens', () => {
  const cases: [string, GenerateOptions][] = [
    ['temperature 1', { temperature: 1, seed: 7, maxNewTokens: 12 }],
    ['greedy', { temperature: 0, maxNewTokens: 12 }],
    ['filters and penalty', { temperature: 0.7, minP: 0.05, topK: 40, topP: 0.9, repetitionPenalty: 1.3, seed: 11, maxNewTokens: 16 }],
  ];
  for (const [name, opts] of cases) {
    it(`yields the Sampler's tokens and log-probs: ${name}`, async () => {
      const prompt = tokenizer.encode('click the button', { addSpecial: true });
      const want = (await new Sampler(model).generate([{ prompt }], { ...opts, stopTokenIds: [] })).results[0].samples[0];
      const got = await collect(streamTokens(model, prompt, { ...opts, stopTokenIds: [] }));
      expect(got.tokens.map((t) => t.token)).toEqual([...want.tokens]);
      expect(Float32Array.from(got.tokens.map((t) => t.logprob))).toEqual(want.logprobs);
      expect(got.finish).toBe('length');
    });
  }

  it('ends on a stop id (yielded last) and at maxContext', async () => {
    const prompt = [1, 20, 30];
    const free = await collect(streamTokens(model, prompt, { temperature: 0, maxNewTokens: 6, stopTokenIds: [] }));
    const stopAt = free.tokens[2]!.token;
    const stopped = await collect(streamTokens(model, prompt, { temperature: 0, maxNewTokens: 6, stopTokenIds: [stopAt] }));
    const first = free.tokens.findIndex((t) => t.token === stopAt);
    expect(stopped.tokens.map((t) => t.token)).toEqual(free.tokens.slice(0, first + 1).map((t) => t.token));
    expect(stopped.finish).toBe('stop');
    const short = await collect(streamTokens(model, prompt, { temperature: 0, maxContext: 5, stopTokenIds: [] }));
    expect(short.tokens.length).toBe(2);
    expect(short.finish).toBe('length');
  });

  it('hands out each token before computing the next, and stops when the consumer does', async () => {
    const gen = streamTokens(model, [1, 5, 9], { temperature: 0, maxNewTokens: 1000, stopTokenIds: [] });
    const first = await gen.next();
    expect(first.done).toBe(false);
    expect(await gen.return('length')).toEqual({ done: true, value: 'length' });
    expect((await gen.next()).done).toBe(true);
  });

  it('rejects bad input before any work', async () => {
    await expect(collect(streamTokens(model, [], {}))).rejects.toThrow(/empty prompt/);
    await expect(collect(streamTokens(model, [1, 2], { maxNewTokens: 0 }))).rejects.toThrow(/maxNewTokens = 0/);
    await expect(collect(streamTokens(model, [1, 2, 3], { maxContext: 3 }))).rejects.toThrow(/prompt has 3 tokens, maxContext is 3/);
    await expect(collect(streamTokens(model, [1, 1e6]))).rejects.toThrow();
  });
});

describe('lfm2-rl generate', () => {
  /** The text the CLI should print: the stream's tokens up to a stop id, decoded. */
  async function expected(prompt: number[], opts: Parameters<typeof streamTokens>[2]): Promise<string> {
    const { tokens } = await collect(streamTokens(model, prompt, { ...opts, stopTokenIds: tokenizer.stopIds }));
    const ids = tokens.map((t) => t.token).filter((t) => !tokenizer.stopIds.includes(t));
    return tokenizer.decode(ids);
  }

  it('prints the sampled continuation of a raw prompt, the same for the same seed', async () => {
    const r = cli('generate', '--model', modelDir, '--prompt', 'Hello there', '--max-tokens', '24', '--temperature', '1', '--seed', '5');
    expect(r.err).toMatch(/^generate: \d+ tokens \((stop token|token limit)\), \d+-token prompt, [\d.]+ tok\/s on cpu/m);
    expect(r.code).toBe(0);
    const prompt = tokenizer.encode('Hello there', { addSpecial: true });
    const want = await expected(prompt, { maxNewTokens: 24, temperature: 1, seed: 5, minP: 0.15, repetitionPenalty: 1.05 });
    expect(want.length).toBeGreaterThan(0);
    expect(r.out).toBe(want + '\n');
    expect(cli('generate', '--model', modelDir, '--prompt', 'Hello there', '--max-tokens', '24', '--temperature', '1', '--seed', '5').out).toBe(r.out);
  });

  it('--chat wraps the prompt in the chat template', async () => {
    const r = cli('generate', '--model', modelDir, '--prompt', 'Hi', '--chat', '--max-tokens', '10', '--temperature', '0');
    expect(r.code).toBe(0);
    const prompt = tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }]);
    expect(r.err).toContain(`${prompt.length}-token prompt`);
    expect(r.out).toBe((await expected(prompt, { maxNewTokens: 10, temperature: 0, minP: 0.15, repetitionPenalty: 1.05 })) + '\n');
  });

  it('writes tokens while it is still sampling', async () => {
    // Counted in-process: a child's pipe may deliver a fast run's many writes as one chunk when the reader is not
    // scheduled (300 tokens take ~60 ms here), so chunk counts on a busy machine cannot tell streaming apart.
    // Each token must be its own write: a CLI that printed the completion at the end would make one or two. The
    // writes together must be exactly what the CLI prints.
    const writes: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await runGenerate(['--model', modelDir, '--prompt', 'a', '--max-tokens', '300', '--temperature', '1', '--seed', '2'])).toBe(0);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(writes.length).toBeGreaterThan(5);
    const r = cli('generate', '--model', modelDir, '--prompt', 'a', '--max-tokens', '300', '--temperature', '1', '--seed', '2');
    expect(writes.join('')).toBe(r.out);
  });

  it('rejects bad arguments with a message naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['--prompt', 'x'], /--model and --prompt are required/],
      [['--model', modelDir, '--prompt', 'x', '--max-tokens', '0'], /--max-tokens must be an integer ≥ 1, got '0'/],
      [['--model', modelDir, '--prompt', 'x', '--temperature=-1'], /--temperature must be a number ≥ 0, got '-1'/],
      [['--model', modelDir, '--prompt', 'x', '--seed', '1.5'], /--seed must be an integer ≥ 0, got '1.5'/],
      [['--model', modelDir, '--prompt', 'x', '--min-p', 'lots'], /--min-p must be a number in \[0, 1\], got 'lots'/],
      [['--model', modelDir, '--prompt', 'x', '--device', 'tpu'], /--device must be cpu, auto or cuda/],
    ];
    for (const [args, re] of cases) await expect(runGenerate(args), args.join(' ')).rejects.toThrow(re);
    const r = cli('generate', '--model', join(dir, 'missing'), '--prompt', 'x');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/^lfm2-rl: .*missing/m);
  });
});
