// The package's public API: `import { LfmModel, Sampler, TrainerEngine, EnvPool, trainRun } from 'lfm2-rl'`.
// Everything here is stable across patch releases; deeper modules are internal. The native addon is loaded on first
// use (building it is `npm install`'s job), so importing this module needs no compiled code.

// ---- engine: model, generation, training
export { native } from './engine/native.ts';
export type { BackendInfo } from './engine/native-types.ts';
export {
  LfmModel,
  toTokenArray,
  type ForwardOptions,
  type GenerationState,
  type LoadOptions,
  type LogitsSelection,
  type NativeForwardResult as ForwardResult,
  type NativeModelInfo as ModelInfo,
  type PrecisionMode,
  type TokenIds,
} from './engine/model.ts';
export type { NativeModelConfig as ModelConfig } from './engine/native-types.ts';
export {
  Sampler,
  type DecodeGraphStats,
  type FinishReason,
  type GeneratedSample,
  type GenerateOptions,
  type GenerateOutput,
  type GenerateRequest,
  type GenerateStats,
  type PrefixCacheStats,
  type SamplerOptions,
  type SamplingOptions,
} from './engine/sampler.ts';
export { streamTokens, type StreamedToken, type StreamOptions } from './engine/stream.ts';
export {
  TrainerEngine,
  type LogprobOptions,
  type LossSettings,
  type MicroStepResult,
  type MicroStepStats,
  type OptimizerSettings,
  type PackedMicroStepResult,
  type StepResult,
  type TrainerEngineOptions,
  type TrainerInfo,
} from './engine/trainer-engine.ts';
export { packBatch, perSequence, type PackedBatch, type TrainBatch } from './engine/packed-batch.ts';
export type { GrpoLossType, LrScheduleKind } from './engine/native-types.ts';
export { PEFT_TENSOR_PREFIX, readAdapterConfig, type AdapterConfig, type LoraSettings } from './engine/peft.ts';
export { Tokenizer, type ChatMessage, type ChatTemplateOptions, type EncodeOptions } from './engine/tokenizer.ts';
export { PRESET_NAMES, presetConfig, type HfConfig, type PresetName } from './engine/presets.ts';
export { writeRandomModel, type InitOptions } from './engine/init-weights.ts';

// ---- browser environment, local and remote
export * from './env/index.ts';
export {
  OpenEnvClient,
  OpenEnvError,
  OpenEnvPool,
  openEnvBaseUrl,
  type OpenEnvClientOptions,
  type OpenEnvTransportKind,
} from './env/client.ts';
export { OpenEnvServerPool, type OpenEnvServerPoolOptions } from './env/server-pool.ts';
export { createServer as createEnvServer, EnvServer, type EnvServerOptions } from './env/server/server.ts';

// ---- GRPO training and evaluation runs
export { trainRun, prepareModel, type TrainRunOptions, type TrainRunResult } from './rl/run.ts';
export {
  ConfigError,
  defaultConfig,
  describeConfig,
  loadConfig,
  validateConfig,
  type TrainConfig,
} from './io/config.ts';
export { allowedActions, buildActionTrie, type ActionTrie } from './rl/action-trie.ts';
// Demonstrations for the SFT stage (the `sft:` section of a config).
export {
  demoExpectations,
  readDemoFile,
  writeDemoFile,
  DemoFileError,
  type DemoFile,
  type DemoHeader,
  type DemoRecord,
} from './rl/demo-file.ts';
export { demosFromEpisodes, generateOracleDemos, readEpisodeRows, writeOracleDemos, type DemoTaskStats } from './rl/demos.ts';
export { groupAdvantages, type AdvantageResult } from './rl/advantages.ts';
export { wilsonInterval } from './rl/evaluate.ts';
export { resolveModel, type ResolvedModel } from './io/hub.ts';

// ---- files
export {
  readSafetensors,
  readSafetensorsHeader,
  tensorToFloat32,
  writeSafetensors,
  SafetensorsError,
  type SafetensorsContents,
  type TensorToWrite,
} from './io/safetensors.ts';
