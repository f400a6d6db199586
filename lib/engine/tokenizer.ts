// Tokenizer + chat template for LFM2-style models: HF `tokenizer.json` via @huggingface/tokenizers, the chat template
// via @huggingface/jinja. The chat template emits BOS itself (LFM2 rule), so rendered chats are encoded without the
// post-processor's BOS — exactly one BOS per prompt.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { byteToUnicode } from './tokenizer-files.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** Strings are inserted verbatim; anything else is JSON-encoded by the template. */
  content: unknown;
}

export interface ChatTemplateOptions {
  /** End with the assistant header so the model writes the next turn. Default true. */
  addGenerationPrompt?: boolean;
  /** Tool schemas passed to the template as `tools`. */
  tools?: unknown[];
}

export interface EncodeOptions {
  /**
   * Run the post-processor (adds BOS for LFM2). Default false here (HF defaults to true): the text this project
   * encodes is either a rendered chat, which already starts with BOS, or a completion fragment, which must not.
   */
  addSpecial?: boolean;
}

type TokenSpec = string | { content: string } | null | undefined;

function tokenContent(spec: TokenSpec): string | undefined {
  if (typeof spec === 'string') return spec;
  if (spec && typeof spec === 'object' && typeof spec.content === 'string') return spec.content;
  return undefined;
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** `chat_template` may be a string or HF's list form `[{name, template}]`; the entry named "default" wins. */
function templateFromConfig(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const entries = value as Array<{ name?: string; template?: string }>;
    const chosen = entries.find((e) => e.name === 'default') ?? entries[0];
    return typeof chosen?.template === 'string' ? chosen.template : undefined;
  }
  return undefined;
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** `<|im_end|>`: end of a chat turn (LFM2's eos). */
  readonly imEndId: number;
  /** Ids that end generation: eos, `<|im_end|>` and `<|endoftext|>` when present. */
  readonly stopIds: readonly number[];
  readonly bosToken: string;
  readonly eosToken: string;
  /** Jinja source of the chat template. */
  readonly chatTemplate: string;

  private readonly template: Template;
  private readonly idToToken: string[];
  private readonly specialIds: Set<number>;
  private readonly unicodeToByte: Map<string, number>;

  private constructor(
    private readonly hf: HfTokenizer,
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    chatTemplate: string,
    source: string,
  ) {
    const vocab = hf.get_vocab(true);
    this.idToToken = [];
    for (const [tok, id] of vocab) this.idToToken[id] = tok;
    this.vocabSize = this.idToToken.length;
    const need = (name: string, spec: TokenSpec, fallback?: string): [string, number] => {
      const content = tokenContent(spec) ?? fallback;
      if (content === undefined) throw new Error(`${source}: tokenizer_config.json has no ${name}`);
      const id = hf.token_to_id(content);
      if (id === undefined) throw new Error(`${source}: ${name} '${content}' is not in the vocabulary`);
      return [content, id];
    };
    [this.bosToken, this.bosId] = need('bos_token', config.bos_token as TokenSpec);
    [this.eosToken, this.eosId] = need('eos_token', config.eos_token as TokenSpec);
    this.padId = need('pad_token', config.pad_token as TokenSpec, this.eosToken)[1];
    this.imEndId = need('<|im_end|>', '<|im_end|>')[1];
    const stop = new Set<number>([this.eosId, this.imEndId]);
    const eot = hf.token_to_id('<|endoftext|>');
    if (eot !== undefined) stop.add(eot);
    this.stopIds = [...stop];
    const added = (tokenizerJson.added_tokens ?? []) as Array<{ id: number; special?: boolean }>;
    this.specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    this.chatTemplate = chatTemplate;
    try {
      this.template = new Template(chatTemplate);
    } catch (e) {
      throw new Error(`${source}: chat template does not parse: ${(e as Error).message}`);
    }
    const table = byteToUnicode();
    this.unicodeToByte = new Map(table.map((ch, b) => [ch, b]));
  }

  /**
   * Loads `dir/tokenizer.json` and `dir/tokenizer_config.json`. The chat template comes from
   * `dir/chat_template.jinja` when present (newer transformers save it there; it takes precedence, as in
   * transformers), else from tokenizer_config.json's `chat_template`.
   */
  static fromDir(dir: string): Tokenizer {
    const tjPath = join(dir, 'tokenizer.json');
    const tcPath = join(dir, 'tokenizer_config.json');
    if (!existsSync(tjPath)) throw new Error(`no tokenizer.json in ${dir}`);
    if (!existsSync(tcPath)) throw new Error(`no tokenizer_config.json in ${dir}`);
    const tokenizerJson = readJson(tjPath);
    const config = readJson(tcPath);
    const jinjaPath = join(dir, 'chat_template.jinja');
    const template = existsSync(jinjaPath) ? readFileSync(jinjaPath, 'utf8') : templateFromConfig(config.chat_template);
    if (template === undefined) {
      throw new Error(`${dir}: no chat template (neither chat_template.jinja nor tokenizer_config.json "chat_template")`);
    }
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(tokenizerJson, config);
    } catch (e) {
      throw new Error(`${tjPath}: cannot build tokenizer: ${(e as Error).message}`);
    }
    return new Tokenizer(hf, tokenizerJson, config, template, dir);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecial ?? false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    for (const id of ids) this.checkId(id);
    return this.hf.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  /** The chat rendered as text (what HF's `apply_chat_template(tokenize=False)` returns). */
  renderChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (messages.length === 0) throw new Error('renderChat: no messages');
    return this.template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      tools: opts.tools ?? null,
      bos_token: this.bosToken,
      eos_token: this.eosToken,
    });
  }

  /** Token ids of the rendered chat. BOS comes from the template only (never added again by the post-processor). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.renderChat(messages, opts), { addSpecial: false });
  }

  /** Raw vocabulary entry (byte-level form, e.g. 'Ġclick'); throws on an id outside the vocabulary. */
  tokenString(id: number): string {
    this.checkId(id);
    return this.idToToken[id];
  }

  /** Every vocabulary entry by id (byte-level form), e.g. for building token tries or masks. */
  vocabulary(): readonly string[] {
    return this.idToToken;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /**
   * The exact bytes a token contributes to the decoded text (special tokens: their UTF-8 text). Works for tokens
   * that hold part of a multi-byte character, which `decode([id])` cannot show.
   */
  tokenBytes(id: number): Uint8Array {
    const tok = this.tokenString(id);
    if (this.specialIds.has(id)) return new TextEncoder().encode(tok);
    const out = new Uint8Array(tok.length);
    let n = 0;
    for (const ch of tok) {
      const b = this.unicodeToByte.get(ch);
      // Not a byte-level symbol (e.g. a non-byte-level vocabulary): fall back to the token's own UTF-8.
      if (b === undefined) return new TextEncoder().encode(tok);
      out[n++] = b;
    }
    return out.subarray(0, n);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.idToToken[id] === undefined) {
      throw new Error(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
  }
}
