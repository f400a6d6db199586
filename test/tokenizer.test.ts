import { describe, it, expect, beforeAll } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import {
  buildTokenizerFiles,
  LFM2_SPECIAL_TOKENS,
  MIN_VOCAB_SIZE,
  writeTokenizerFiles,
} from '../lib/engine/tokenizer-files.ts';
import { Tokenizer, type ChatMessage } from '../lib/engine/tokenizer.ts';

const FIXTURE_TEMPLATE = fileURLToPath(new URL('./fixtures/lfm2-chat-template.jinja', import.meta.url));

// Byte b sits at id 14 + b in the generated vocabulary (14 specials first, then the 256 byte symbols in byte order).
const byteId = (b: number) => 14 + b;

const chat: ChatMessage[] = [
  { role: 'system', content: 'You control a browser.' },
  { role: 'user', content: 'Goal: Click the button.' },
  { role: 'assistant', content: "click('13')" },
  { role: 'user', content: 'Step 2' },
];
// docs/lfm2.md §5 layout, written out by hand.
const chatRendered =
  '<|startoftext|><|im_start|>system\nYou control a browser.<|im_end|>\n' +
  '<|im_start|>user\nGoal: Click the button.<|im_end|>\n' +
  "<|im_start|>assistant\nclick('13')<|im_end|>\n" +
  '<|im_start|>user\nStep 2<|im_end|>\n' +
  '<|im_start|>assistant\n';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'lfm2-tok-'));
}

describe('tokenizer files', () => {
  it('rejects a vocabulary too small for specials + bytes', () => {
    expect(() => buildTokenizerFiles(MIN_VOCAB_SIZE - 1)).toThrow(/vocabSize must be an integer >= 270/);
    expect(() => buildTokenizerFiles(300.5)).toThrow(/vocabSize/);
  });

  it('puts LFM2 special tokens at their real ids and fills exactly vocabSize dense ids', () => {
    for (const v of [MIN_VOCAB_SIZE, 333, 1024]) {
      const f = buildTokenizerFiles(v);
      const vocab = (f.tokenizerJson.model as { vocab: Record<string, number> }).vocab;
      const ids = Object.values(vocab).sort((a, b) => a - b);
      expect(ids.length).toBe(v);
      ids.forEach((id, i) => expect(id).toBe(i));
      for (const [id, tok] of LFM2_SPECIAL_TOKENS) expect(vocab[tok]).toBe(id);
      expect(vocab['<|im_start|>']).toBe(6);
      expect(vocab['<|im_end|>']).toBe(7);
    }
  });

  it('places the high specials at their real ids in a full-size vocabulary', () => {
    const f = buildTokenizerFiles(65536);
    const vocab = (f.tokenizerJson.model as { vocab: Record<string, number> }).vocab;
    expect(vocab['<|cot_start|>']).toBe(64394);
    expect(vocab['<|file_end|>']).toBe(64399);
    expect(Object.keys(vocab).length).toBe(65536);
  });

  it('is deterministic and learns merges that make action strings short', () => {
    const a = JSON.stringify(buildTokenizerFiles(1024).tokenizerJson);
    const b = JSON.stringify(buildTokenizerFiles(1024).tokenizerJson);
    expect(a).toBe(b);
    const dir = tmp();
    writeTokenizerFiles(dir, 1024);
    const tok = Tokenizer.fromDir(dir);
    // click / (' / 13 / ') are each one token: 4 tokens instead of 11 bytes.
    expect(tok.encode("click('13')").length).toBe(4);
    rmSync(dir, { recursive: true });
  });

  it('learns web-page words only past the first stage: smaller vocabularies keep their merges exactly', () => {
    const merges = (v: number) => (buildTokenizerFiles(v).tokenizerJson.model as { merges: string[][] }).merges;
    const first = merges(1125); // the first stage runs out of pairs at 855 merges (270 + 855 = 1,125 ids)
    const small = merges(2048);
    expect(first.length).toBe(855);
    expect(small.length).toBeGreaterThan(1500);
    expect(small.slice(0, first.length)).toEqual(first);
    expect(merges(512)).toEqual(first.slice(0, 242));
    const dir = tmp();
    const dir2 = tmp();
    writeTokenizerFiles(dir, 1125);
    writeTokenizerFiles(dir2, 2048);
    const line = "[14] textbox 'To:' value='Hartford, CT (BDL)', focused\n\t\tStaticText 'Hartford, CT (BDL)'\n\t\t\tInlineTextBox 'Hartford, CT (BDL)'";
    const before = Tokenizer.fromDir(dir).encode(line).length;
    const after = Tokenizer.fromDir(dir2).encode(line).length;
    expect(after).toBeLessThan(0.75 * before);
    rmSync(dir, { recursive: true });
    rmSync(dir2, { recursive: true });
  });

  it('loads with @huggingface/tokenizers directly', () => {
    const dir = tmp();
    writeTokenizerFiles(dir, 512);
    const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const tc = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    const hf = new HfTokenizer(tj, tc);
    const text = 'Héllo <|im_end|> 12345';
    expect(hf.decode(hf.encode(text).ids)).toBe('<|startoftext|>' + text);
    expect(hf.token_to_id('<|pad|>')).toBe(0);
    rmSync(dir, { recursive: true });
  });
});

describe('Tokenizer (generated, no merges: every byte is one token)', () => {
  let dir: string;
  let tok: Tokenizer;
  beforeAll(() => {
    dir = tmp();
    writeTokenizerFiles(dir, MIN_VOCAB_SIZE);
    tok = Tokenizer.fromDir(dir);
  });

  it('encodes bytes to hand-computed ids, BOS only when asked', () => {
    // 'h' = 0x68, 'i' = 0x69; 'é' = C3 A9 in UTF-8.
    expect(tok.encode('hi')).toEqual([byteId(0x68), byteId(0x69)]);
    expect(tok.encode('hi', { addSpecial: true })).toEqual([1, byteId(0x68), byteId(0x69)]);
    expect(tok.encode('é')).toEqual([byteId(0xc3), byteId(0xa9)]);
    expect(tok.encode('<|im_start|>a<|im_end|>')).toEqual([6, byteId(0x61), 7]);
  });

  it('exposes special ids and stop ids', () => {
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(7);
    expect(tok.imEndId).toBe(7);
    expect(tok.padId).toBe(0);
    expect([...tok.stopIds].sort()).toEqual([2, 7]);
    expect(tok.vocabSize).toBe(MIN_VOCAB_SIZE);
    expect(tok.isSpecial(6)).toBe(true);
    expect(tok.isSpecial(byteId(0x61))).toBe(false);
  });

  it('gives token strings and exact token bytes, including partial UTF-8', () => {
    expect(tok.tokenString(byteId(0x20))).toBe('Ġ');
    expect([...tok.tokenBytes(byteId(0xc3))]).toEqual([0xc3]);
    expect(new TextDecoder().decode(tok.tokenBytes(7))).toBe('<|im_end|>');
    expect(tok.vocabulary().length).toBe(MIN_VOCAB_SIZE);
    expect(tok.vocabulary()[6]).toBe('<|im_start|>');
    expect(() => tok.tokenString(MIN_VOCAB_SIZE)).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
  });

  it('renders the chat in LFM2 layout with exactly one BOS', () => {
    expect(tok.renderChat(chat)).toBe(chatRendered);
    const ids = tok.applyChatTemplate(chat);
    expect(ids[0]).toBe(1);
    expect(ids.filter((i) => i === 1).length).toBe(1);
    expect(ids[1]).toBe(6);
    expect(tok.decode(ids)).toBe(chatRendered);
    // 4 turns + system + generation prompt = 5 <|im_start|>, 4 <|im_end|>.
    expect(ids.filter((i) => i === 6).length).toBe(5);
    expect(ids.filter((i) => i === 7).length).toBe(4);
  });

  it('omits the generation prompt on request and rejects an empty chat', () => {
    const text = tok.renderChat(chat.slice(0, 3), { addGenerationPrompt: false });
    expect(text.endsWith("click('13')<|im_end|>\n")).toBe(true);
    expect(() => tok.renderChat([])).toThrow(/no messages/);
  });

  it('decodes with or without special tokens', () => {
    const ids = tok.encode('<|im_start|>ok<|im_end|>');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('ok');
  });
});

describe('Tokenizer with the real LFM2 template text (fixture)', () => {
  let dir: string;
  let tok: Tokenizer;
  let builtin: Tokenizer;
  beforeAll(() => {
    const builtinDir = tmp();
    writeTokenizerFiles(builtinDir, 600);
    builtin = Tokenizer.fromDir(builtinDir);
    dir = tmp();
    writeTokenizerFiles(dir, 600);
    copyFileSync(FIXTURE_TEMPLATE, join(dir, 'chat_template.jinja'));
    tok = Tokenizer.fromDir(dir);
  });

  it('prefers chat_template.jinja over tokenizer_config.json', () => {
    expect(tok.chatTemplate).toBe(readFileSync(FIXTURE_TEMPLATE, 'utf8'));
  });

  it('renders the documented layout', () => {
    expect(tok.renderChat(chat)).toBe(chatRendered);
    expect(tok.applyChatTemplate(chat).filter((i) => i === 1).length).toBe(1);
  });

  const cases: Array<[string, ChatMessage[], { tools?: unknown[]; addGenerationPrompt?: boolean }]> = [
    ['no system', [{ role: 'user', content: 'hi' }], {}],
    ['system only + tools', [{ role: 'system', content: 'S' }, { role: 'user', content: 'q' }], { tools: [{ name: 'f', parameters: {} }, 'raw'] }],
    ['tools without system', [{ role: 'user', content: 'q' }], { tools: [{ name: 'g' }] }],
    ['tool result + json content', [{ role: 'user', content: 'q' }, { role: 'tool', content: { ok: true, n: 3 } }], { addGenerationPrompt: false }],
  ];
  for (const [name, msgs, opts] of cases) {
    it(`project template equals the LFM2 template: ${name}`, () => {
      expect(builtin.renderChat(msgs, opts)).toBe(tok.renderChat(msgs, opts));
    });
  }

  // Expected texts rendered by Python jinja2 with transformers' settings (test/fixtures/render-chat-fixture.py), so
  // @huggingface/jinja and both templates are checked against the engine transformers itself uses.
  const rendered = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/lfm2-chat-rendered.json', import.meta.url)), 'utf8')) as Array<{ name: string; text: string }>;
  const chatCases = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/lfm2-chat-cases.json', import.meta.url)), 'utf8')) as Array<{
    name: string;
    messages: ChatMessage[];
    tools?: unknown[];
    add_generation_prompt: boolean;
  }>;
  chatCases.forEach((c, i) => {
    it(`matches Python jinja2 rendering: ${c.name}`, () => {
      expect(rendered[i].name).toBe(c.name);
      const opts = { tools: c.tools, addGenerationPrompt: c.add_generation_prompt };
      expect(tok.renderChat(c.messages, opts)).toBe(rendered[i].text);
      expect(builtin.renderChat(c.messages, opts)).toBe(rendered[i].text);
    });
  });

  it('formats tools and tool results as LFM2 does', () => {
    const text = tok.renderChat(
      [{ role: 'system', content: 'S' }, { role: 'tool', content: 'r' }],
      { tools: [{ name: 'f' }], addGenerationPrompt: false },
    );
    expect(text).toBe(
      '<|startoftext|><|im_start|>system\nS\nList of tools: <|tool_list_start|>[{"name": "f"}]<|tool_list_end|><|im_end|>\n' +
        '<|im_start|>tool\n<|tool_response_start|>r<|tool_response_end|><|im_end|>\n',
    );
  });
});

describe('Tokenizer.fromDir errors', () => {
  it('names the missing file', () => {
    const dir = tmp();
    expect(() => Tokenizer.fromDir(dir)).toThrow(/no tokenizer.json/);
    writeTokenizerFiles(dir, 300);
    const cfgPath = join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    delete cfg.chat_template;
    writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(() => Tokenizer.fromDir(dir)).toThrow(/no chat template/);
    cfg.chat_template = '{% for m in messages %}';
    writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(() => Tokenizer.fromDir(dir)).toThrow(/chat template does not parse/);
    cfg.chat_template = '{{ bos_token }}';
    cfg.bos_token = '<|nope|>';
    writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(() => Tokenizer.fromDir(dir)).toThrow(/bos_token '<\|nope\|>' is not in the vocabulary/);
    writeFileSync(cfgPath, '{oops');
    expect(() => Tokenizer.fromDir(dir)).toThrow(/not valid JSON/);
    rmSync(dir, { recursive: true });
  });
});
