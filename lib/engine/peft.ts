// PEFT LoRA adapter folders (docs/architecture.md §6.3): adapter_config.json written and read here; adapter_model.safetensors
// (base_model.model.<module>.lora_A.weight [r, in], .lora_B.weight [out, r]) is written and read by the native
// trainer. Folders written here load unchanged with peft's PeftModel.from_pretrained.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** Prefix of every tensor name in a PEFT adapter file (PeftModel wraps the base model twice). */
export const PEFT_TENSOR_PREFIX = 'base_model.model.';

/** The LoRA settings this project supports (no dropout at inference, no DoRA, no bias, no fan_in_fan_out). */
export interface LoraSettings {
  r: number;
  loraAlpha: number;
  /** List of module-name suffixes (e.g. 'q_proj', 'self_attn.out_proj', 'conv.out_proj') or one full-match regex. */
  targetModules: string[] | string;
  useRslora: boolean;
  /** Training-time dropout recorded in the config (the engine trains without dropout: must be 0). */
  loraDropout?: number;
}

/** The adapter_config.json object PEFT writes for a LoRA adapter on a causal LM. */
export function adapterConfigJson(s: LoraSettings, baseModelNameOrPath: string): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: s.loraAlpha,
    lora_dropout: s.loraDropout ?? 0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: s.r,
    rank_pattern: {},
    revision: null,
    target_modules: typeof s.targetModules === 'string' ? s.targetModules : [...s.targetModules],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: s.useRslora,
  };
}

export function writeAdapterConfig(dir: string, s: LoraSettings, baseModelNameOrPath: string): void {
  writeFileSync(join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(adapterConfigJson(s, baseModelNameOrPath), null, 2) + '\n');
}

export interface AdapterConfig extends LoraSettings {
  baseModelNameOrPath: string | null;
}

/** Reads and checks adapter_config.json; throws naming the file and field for anything this engine cannot honour. */
export function readAdapterConfig(dir: string): AdapterConfig {
  const file = join(dir, ADAPTER_CONFIG_FILE);
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read adapter config (${(e as Error).message})`);
  }
  const bad = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  if (c.peft_type !== 'LORA') bad(`peft_type is ${JSON.stringify(c.peft_type)}, expected "LORA"`);
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM') {
    bad(`task_type is ${JSON.stringify(c.task_type)}, expected "CAUSAL_LM"`);
  }
  if (!Number.isInteger(c.r) || (c.r as number) < 1) bad(`r must be a positive integer, got ${JSON.stringify(c.r)}`);
  if (typeof c.lora_alpha !== 'number' || !(c.lora_alpha > 0)) bad(`lora_alpha must be > 0, got ${JSON.stringify(c.lora_alpha)}`);
  const tm = c.target_modules;
  const list = Array.isArray(tm) && tm.length > 0 && tm.every((x) => typeof x === 'string');
  if (!list && !(typeof tm === 'string' && tm.length > 0)) bad('target_modules must be a non-empty list of names or a regex string');
  if (c.use_dora === true) bad('use_dora is not supported');
  if (c.fan_in_fan_out === true) bad('fan_in_fan_out is not supported (LFM2 linears are [out, in])');
  if (c.bias !== undefined && c.bias !== 'none') bad(`bias = ${JSON.stringify(c.bias)} is not supported (LFM2 has no biases)`);
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[k];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) bad(`${k} is not supported`);
  }
  if (c.layers_to_transform !== undefined && c.layers_to_transform !== null) bad('layers_to_transform is not supported');
  if (Array.isArray(c.modules_to_save) && c.modules_to_save.length > 0) bad('modules_to_save is not supported');
  return {
    r: c.r as number,
    loraAlpha: c.lora_alpha as number,
    targetModules: list ? [...(tm as string[])] : (tm as string),
    useRslora: c.use_rslora === true,
    loraDropout: typeof c.lora_dropout === 'number' ? c.lora_dropout : 0,
    baseModelNameOrPath: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : null,
  };
}
