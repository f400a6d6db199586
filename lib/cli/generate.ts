// `lfm2-rl generate --model DIR --prompt TEXT [--chat] [--max-tokens N] [--temperature T] [--seed S] ...`: samples a
// completion and writes it to stdout token by token as it is chosen (lib/engine/stream.ts), so a model folder or
// checkpoint can be tried by hand. The stop token is not printed; a summary line goes to stderr.
import { parseArgs } from 'node:util';
import { LfmModel } from '../engine/model.ts';
import { streamTokens } from '../engine/stream.ts';
import { Tokenizer } from '../engine/tokenizer.ts';
import { resolveModel } from '../io/hub.ts';

export const summary = 'stream a sampled completion of a prompt (raw or as a chat turn) to stdout';

const usage = `usage: lfm2-rl generate --model DIR --prompt TEXT [--chat] [--max-tokens N] [--temperature T] [--seed S]
                        [--min-p P] [--top-p P] [--top-k K] [--repetition-penalty R] [--device cpu|auto|cuda]
  --model        HF model folder or Hugging Face id
  --prompt       the text to continue; with --chat, the user's message (rendered with the model's chat template)
  --max-tokens   new tokens at most (default 256)
  --temperature  0 = greedy (default 0.3); sampling defaults follow Liquid's advice for LFM2 text models:
  --min-p        0.15, --repetition-penalty 1.05, --top-p 1 and --top-k 0 (off)
  --seed         same seed, prompt and options → same completion (default 0)`;

function numberOption(name: string, text: string | undefined, fallback: number, ok: (v: number) => boolean, rule: string): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new Error(`--${name} must be ${rule}, got '${text}'\n${usage}`);
  return v;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      chat: { type: 'boolean', default: false },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      'min-p': { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.model || values.prompt === undefined) throw new Error(`--model and --prompt are required\n${usage}`);
  const int = (v: number) => Number.isInteger(v);
  const maxNewTokens = numberOption('max-tokens', values['max-tokens'], 256, (v) => int(v) && v >= 1, 'an integer ≥ 1');
  const temperature = numberOption('temperature', values.temperature, 0.3, (v) => v >= 0, 'a number ≥ 0');
  const seed = numberOption('seed', values.seed, 0, (v) => int(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER, 'an integer ≥ 0');
  const minP = numberOption('min-p', values['min-p'], 0.15, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const topP = numberOption('top-p', values['top-p'], 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const topK = numberOption('top-k', values['top-k'], 0, (v) => int(v) && v >= 0, 'an integer ≥ 0');
  const repetitionPenalty = numberOption('repetition-penalty', values['repetition-penalty'], 1.05, (v) => v > 0, 'a number > 0');
  const device = values.device;
  if (device !== 'cpu' && device !== 'auto' && device !== 'cuda') throw new Error(`--device must be cpu, auto or cuda\n${usage}`);

  const dir = (await resolveModel(values.model)).dir;
  const tokenizer = Tokenizer.fromDir(dir);
  const model = await LfmModel.load(dir, { device });
  const prompt = values.chat
    ? tokenizer.applyChatTemplate([{ role: 'user', content: values.prompt }], { addGenerationPrompt: true })
    : tokenizer.encode(values.prompt, { addSpecial: true });
  if (prompt.length === 0) throw new Error('--prompt encodes to no tokens');

  // A token may end in the middle of a UTF-8 character: the streaming decoder holds such bytes until the next one.
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  const stopIds = new Set(tokenizer.stopIds);
  const t0 = performance.now();
  let n = 0;
  const tokens = streamTokens(model, prompt, { maxNewTokens, temperature, seed, minP, topP, topK, repetitionPenalty, stopTokenIds: [...stopIds] });
  let step = await tokens.next();
  for (; !step.done; step = await tokens.next()) {
    n++;
    const id = step.value.token;
    // The model's vocabulary may be padded past the tokenizer's: such ids have no text.
    if (stopIds.has(id) || tokenizer.vocabulary()[id] === undefined) continue;
    process.stdout.write(utf8.decode(tokenizer.tokenBytes(id), { stream: true }));
  }
  process.stdout.write(utf8.decode() + '\n');
  const s = (performance.now() - t0) / 1000;
  console.error(`generate: ${n} tokens (${step.value === 'stop' ? 'stop token' : 'token limit'}), ${prompt.length}-token prompt, ${(n / s).toFixed(1)} tok/s on ${model.device}`);
  return 0;
}
