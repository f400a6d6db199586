// Writes a small, deterministic byte-level BPE tokenizer in Hugging Face `tokenizers` format, shaped like LFM2's:
// the same special tokens at the same ids, the GPT-2 byte alphabet, Llama-3 pre-tokenization, BOS added by the
// post-processor, and an LFM2-equivalent chat template. Offline tiny models (`lfm2-rl init-model`) ship with it so the
// whole pipeline (prompt → ids → sampler → text → action) runs without downloading LFM2's real tokenizer.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AIRPORTS, COUNTRIES, FIRST_NAMES, LOREM_WORDS } from '../env/tasks/words.ts';

/** LFM2's special tokens at their real ids (LiquidAI/LFM2-Tokenizer). */
export const LFM2_SPECIAL_TOKENS: ReadonlyArray<readonly [number, string]> = [
  [0, '<|pad|>'],
  [1, '<|startoftext|>'],
  [2, '<|endoftext|>'],
  [3, '<|fim_pre|>'],
  [4, '<|fim_mid|>'],
  [5, '<|fim_suf|>'],
  [6, '<|im_start|>'],
  [7, '<|im_end|>'],
  [8, '<|tool_list_start|>'],
  [9, '<|tool_list_end|>'],
  [10, '<|tool_call_start|>'],
  [11, '<|tool_call_end|>'],
  [12, '<|tool_response_start|>'],
  [13, '<|tool_response_end|>'],
];

/** High-id specials of the real vocabulary; written only when vocabSize reaches them. */
export const LFM2_HIGH_SPECIAL_TOKENS: ReadonlyArray<readonly [number, string]> = [
  [64394, '<|cot_start|>'],
  [64395, '<|cot_end|>'],
  [64396, '<|review_start|>'],
  [64397, '<|review_end|>'],
  [64398, '<|file_start|>'],
  [64399, '<|file_end|>'],
];

/** First id after the specials and the 256 byte symbols: the smallest usable vocabulary. */
export const MIN_VOCAB_SIZE = LFM2_SPECIAL_TOKENS.length + 256;

/** Llama-3 split regex (LFM2's pre-tokenizer per llama.cpp's "lfm2" pre-type): digits in runs of at most 3. */
export const LLAMA3_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The same split for training merges here. JS (Node 20) has no inline (?i:…) group, so the contractions are
// spelled out case-insensitively by hand; everything else is identical.
const SPLIT_FOR_TRAINING =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/**
 * LFM2-equivalent chat template, written from the rules of the shipped template:
 * BOS first (the template owns BOS), leading system message → system prompt, optional tool list appended to it,
 * `<|im_start|>{role}\n{content}<|im_end|>\n` per message (non-string content JSON-encoded, tool results wrapped),
 * and `<|im_start|>assistant\n` as the generation prompt.
 */
export const LFM2_CHAT_TEMPLATE = [
  '{{- bos_token -}}',
  '{%- set ns = namespace(system="") -%}',
  '{%- set rest = messages -%}',
  '{%- if messages and messages[0]["role"] == "system" -%}',
  '{%- set ns.system = messages[0]["content"] -%}',
  '{%- set rest = messages[1:] -%}',
  '{%- endif -%}',
  '{%- if tools -%}',
  '{%- if ns.system -%}{%- set ns.system = ns.system + "\\n" -%}{%- endif -%}',
  '{%- set ns.system = ns.system + "List of tools: <|tool_list_start|>[" -%}',
  '{%- for tool in tools -%}',
  '{%- if tool is string -%}{%- set ns.system = ns.system + tool -%}{%- else -%}{%- set ns.system = ns.system + (tool | tojson) -%}{%- endif -%}',
  '{%- if not loop.last -%}{%- set ns.system = ns.system + ", " -%}{%- endif -%}',
  '{%- endfor -%}',
  '{%- set ns.system = ns.system + "]<|tool_list_end|>" -%}',
  '{%- endif -%}',
  '{%- if ns.system -%}{{- "<|im_start|>system\\n" + ns.system + "<|im_end|>\\n" -}}{%- endif -%}',
  '{%- for message in rest -%}',
  '{%- set content = message["content"] -%}',
  '{%- if content is not string -%}{%- set content = content | tojson -%}{%- endif -%}',
  '{%- if message["role"] == "tool" -%}{%- set content = "<|tool_response_start|>" + content + "<|tool_response_end|>" -%}{%- endif -%}',
  '{{- "<|im_start|>" + message["role"] + "\\n" + content + "<|im_end|>\\n" -}}',
  '{%- endfor -%}',
  '{%- if add_generation_prompt -%}{{- "<|im_start|>assistant\\n" -}}{%- endif -%}',
].join('\n');

/** GPT-2's reversible byte → printable-unicode map used by byte-level BPE. Index = byte value. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
}

// Text the merges are learned from: the words the pipeline actually feeds the model (system prompt, goals, AX-tree
// roles and labels, action syntax) plus common English, so that prompts and, above all, action strings are short.
const TRAINING_TEXT = `
You control a web browser through actions. Complete the web task.
Each element of the page appears as [bid] role 'name', for example [13] button 'Click Me!' means bid '13'.
Reply with exactly ONE action on one line, with no explanation. Valid actions:
click(bid) fill(bid, text) press(bid, key) select_option(bid, option) scroll(delta_x, delta_y) focus(bid) hover(bid)
dblclick(bid) clear(bid) noop() go_back() go_forward()
click('13') click('42') click('7') click('101') fill('42', 'hello world') fill('5', 'Bob') press('12', 'Enter')
select_option('8', 'Apple') scroll(0, 200) scroll(0, -200) focus('3') hover('9') clear('4') noop()
click('18') click('19') click('20') click('21') fill('16', 'text') press('16', 'Tab') check('11') uncheck('11')
Goal: Click the button. Click on the link. Click the submit button. Enter the text and press Submit.
Select the option from the list and click Submit. Check the boxes and click Submit. Focus into the text area.
Click on the tab. Type the value into the text field. Book the shortest one-way flight from the city to the city on the date.
Find the email and reply to it. Choose the date in the date picker. Drag the item. Expand the section.
Previous action error: TimeoutError: element not found. ValueError: invalid bid. Error: Could not parse action.
Page structure:
RootWebArea 'Click Test Task', focused
[3] generic
[4] StaticText 'Click the button.'
[5] button 'Click Me!'
[6] textbox 'Username' [7] textbox 'Password' [8] link 'Home' [9] checkbox 'Remember me', checked='false'
[10] radio 'Option', checked='true' [11] combobox 'Select', hasPopup='listbox', expanded=False [12] option 'Apple', selected=False
[13] heading 'Welcome' [14] paragraph [15] list [16] listitem [17] LabelText [18] image [19] table [20] row [21] cell
[22] searchbox 'Search' [23] menuitem 'File' [24] tab 'Tab 1' [25] tabpanel [26] dialog 'Dialog' [27] navigation [28] form
clickable visible focused disabled required value='' description
What action do you take?
system
user
assistant
user
assistant
<html><head><title>Task</title></head><body><div id="wrap"><div id="query">Click the button.</div>
<div id="area"><button id="subbtn" class="btn" type="submit">Click Me!</button><input type="text" id="tt">
<a href="#">link</a><span class="label">Submit</span><label for="ch">Yes</label><select><option>No</option></select></div></body></html>
The quick brown fox jumps over the lazy dog. This is a test of the system and the model, which is trained with
reinforcement learning to use a web browser. When the page has loaded, the agent reads the goal, looks at the
elements on the page, and chooses one action. If the action is wrong, the error is shown in the next step.
It should learn to solve each task in as few steps as possible, and it will get a reward of one for success.
There are many tasks: some are easy, some need several steps, and some need text to be typed into a field.
Please make sure that you answer with one line only. Thank you for your help; we would like to know more about
what you think of this, so tell us what you want and where you are from, how it works, and why it does not.
First name, last name, email address, phone number, user name, password, date, time, city, country, search, next,
previous, cancel, ok, yes, no, submit, login, sign in, sign up, save, delete, edit, open, close, menu, settings.
`;

// Second-stage text, learned only after the first stage runs out of pairs (vocabularies above ~1,100 ids), so smaller
// tokenizers keep exactly their merges: the vocabulary of web pages as the accessibility tree shows them (roles,
// properties, calendar and form words) and the word lists the built-in pages draw from, as a tokenizer trained on
// web text would know them.
const WEB_TEXT = `
RootWebArea StaticText InlineTextBox LabelText generic paragraph listitem list option listbox combobox textbox
checkbox radio button link heading dialog image table row cell columnheader rowheader separator group form
focused, checked='true' checked='false' selected=True selected=False expanded=True expanded=False hasPopup='listbox'
value='' url='http://miniwob.localhost/miniwob/' required disabled clickable visible invalid='true' modal=True
Click Test Task Click Button Task Click Link Task Enter Text Task Focus Text Task Click Checkboxes Task Login User Task
Choose List Task Click Dialog Task Book Flight Task
Click on the "Submit" button. Click on the link "lorem". Enter "text" into the text field and press Submit.
Select nothing and click Submit. Enter the username "user" and the password "pass" into the text fields and press login.
Select Brazil from the list and click Submit. Close the dialog box by clicking the "x".
Book the cheapest one-way flight from: Boston, MA to: LAX on 10/21/2016. Book the shortest one-way flight from: ATL to: Denver, CO on 12/05/2016.
From: To: Departure Date Search Prev Next October 2016 November 2016 December 2016 Su Mo Tu We Th Fr Sa
Book flight for $123 Depart: 10:35 AM Arrive: 4:10 PM (+1 day) Duration: 5h 35m Price: $412
Username Password Login Submit Close OK Cancel Yes No Previous actions: error: TimeoutError ValueError
`;

/** Pre-token counts of the first-stage text (byte-level strings), plus every 2-digit number so bids like '42' are one token. */
function trainingWords(byteMap: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (piece: string, n: number) => {
    const bytes = new TextEncoder().encode(piece);
    let s = '';
    for (const b of bytes) s += byteMap[b];
    counts.set(s, (counts.get(s) ?? 0) + n);
  };
  for (const m of TRAINING_TEXT.matchAll(SPLIT_FOR_TRAINING)) add(m[0], 1);
  for (let i = 0; i < 100; i++) add(String(i).padStart(2, '0'), 2);
  return counts;
}

/** First-stage counts plus the web text, the built-in pages' word lists and every 3-digit number (prices, bids). */
function webWords(byteMap: string[]): Map<string, number> {
  const counts = trainingWords(byteMap);
  const add = (text: string, n: number) => {
    for (const m of text.matchAll(SPLIT_FOR_TRAINING)) {
      let s = '';
      for (const b of new TextEncoder().encode(m[0])) s += byteMap[b];
      counts.set(s, (counts.get(s) ?? 0) + n);
    }
  };
  add(WEB_TEXT, 2);
  const lists = [LOREM_WORDS, FIRST_NAMES, COUNTRIES, AIRPORTS.flat()];
  for (const list of lists) for (const w of list) add(` ${w} '${w}'`, 1);
  for (let i = 100; i < 1000; i++) add(String(i), 1);
  return counts;
}

/** One word's symbols with every (a, b) pair, left to right, merged into a + b. */
function mergePair(s: readonly string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
      out.push(a + b);
      i++;
    } else out.push(s[i]);
  }
  return out;
}

/** Applies merges in order to one word's symbols (BPE encoding of a pre-token). */
function applyMerges(symbols: string[], merges: ReadonlyArray<readonly [string, string]>): string[] {
  let s = symbols;
  for (const [a, b] of merges) {
    if (s.length < 2) break;
    s = mergePair(s, a, b);
  }
  return s;
}

/**
 * Learns up to `maxMerges` BPE merges from the word counts, continuing after the `start` merges (applied first, and
 * returned as the head of the list). Deterministic: the most frequent pair wins, ties go to the lexicographically
 * smallest pair. Stops early when every training word is a single token.
 */
export function learnMerges(
  words: Map<string, number>,
  maxMerges: number,
  start: ReadonlyArray<readonly [string, string]> = [],
): Array<[string, string]> {
  // Each word as a symbol list; pair stats maintained incrementally so each merge costs only the words it touches.
  const entries = [...words.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const symbols: string[][] = entries.map(([w]) => applyMerges(Array.from(w), start));
  const freq = entries.map(([, c]) => c);
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const SEP = '\u0000';
  const addPairs = (wi: number, sign: number) => {
    const s = symbols[wi];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i] + SEP + s[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freq[wi]);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < symbols.length; wi++) addPairs(wi, 1);

  const merges: Array<[string, string]> = start.map(([a, b]) => [a, b]);
  while (merges.length < maxMerges) {
    let best = '';
    let bestCount = 0;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === '') break;
    const [a, b] = best.split(SEP) as [string, string];
    merges.push([a, b]);
    for (const wi of pairWords.get(best) ?? []) {
      addPairs(wi, -1);
      symbols[wi] = mergePair(symbols[wi], a, b);
      addPairs(wi, 1);
    }
    pairWords.delete(best);
    pairCount.delete(best);
    for (const [key, c] of pairCount) if (c <= 0) pairCount.delete(key);
  }
  return merges;
}

export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  /** Number of learned merges (ids MIN_VOCAB_SIZE .. MIN_VOCAB_SIZE + merges − 1). */
  merges: number;
}

/** Builds the three JSON documents for a vocabulary of exactly `vocabSize` ids. */
export function buildTokenizerFiles(vocabSize: number): TokenizerFiles {
  if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE) {
    throw new Error(`tokenizer vocabSize must be an integer >= ${MIN_VOCAB_SIZE} (14 specials + 256 bytes), got ${vocabSize}`);
  }
  const byteMap = byteToUnicode();
  const vocab: Record<string, number> = {};
  const special = new Map<number, string>(LFM2_SPECIAL_TOKENS);
  const highSpecials = LFM2_HIGH_SPECIAL_TOKENS.filter(([id]) => id < vocabSize);
  for (const [id, tok] of highSpecials) special.set(id, tok);
  for (const [id, tok] of LFM2_SPECIAL_TOKENS) vocab[tok] = id;
  let next = LFM2_SPECIAL_TOKENS.length;
  for (let b = 0; b < 256; b++) vocab[byteMap[b]] = next++;

  // Ids still free for merges (the high specials sit at fixed ids inside the range).
  const free = vocabSize - next - highSpecials.length;
  const firstStage = learnMerges(trainingWords(byteMap), free);
  const merges = firstStage.length < free ? learnMerges(webWords(byteMap), free, firstStage) : firstStage;
  const takeId = () => {
    while (special.has(next)) next++;
    return next++;
  };
  for (const [a, b] of merges) {
    if (vocab[a + b] === undefined) vocab[a + b] = takeId();
  }
  for (const [id, tok] of highSpecials) vocab[tok] = id;
  // Remaining ids: reserved entries no merge produces (LFM2 also has many reserved slots), so ids stay dense.
  let used = Object.keys(vocab).length;
  for (let reserved = 0; used < vocabSize; reserved++, used++) vocab[`<|reserved_${reserved}|>`] = takeId();

  const addedTokens = [...special.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([id, content]) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }));

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|startoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<|startoftext|>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<|startoftext|>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<|startoftext|>': { id: '<|startoftext|>', ids: [1], tokens: ['<|startoftext|>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };

  const addedTokensDecoder: Record<string, unknown> = {};
  for (const t of addedTokens) {
    const { id, ...rest } = t;
    addedTokensDecoder[String(id)] = rest;
  }
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: addedTokensDecoder,
    bos_token: '<|startoftext|>',
    eos_token: '<|im_end|>',
    pad_token: '<|pad|>',
    clean_up_tokenization_spaces: false,
    legacy: false,
    model_max_length: 32768,
    spaces_between_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    use_default_system_prompt: false,
    chat_template: LFM2_CHAT_TEMPLATE,
  };
  const specialTokensMap = {
    bos_token: { content: '<|startoftext|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
    eos_token: { content: '<|im_end|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
    pad_token: { content: '<|pad|>', lstrip: false, normalized: false, rstrip: false, single_word: false },
  };
  return { tokenizerJson, tokenizerConfig, specialTokensMap, merges: merges.length };
}

/**
 * Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir` (created if missing) for a
 * vocabulary of exactly `vocabSize` ids (>= MIN_VOCAB_SIZE). Returns the number of learned merges.
 */
export function writeTokenizerFiles(dir: string, vocabSize: number): { merges: number } {
  const files = buildTokenizerFiles(vocabSize);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizerJson, null, 1) + '\n');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig, null, 2) + '\n');
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify(files.specialTokensMap, null, 2) + '\n');
  return { merges: files.merges };
}
