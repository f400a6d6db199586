// Public API of the browser environment.
export { EnvPool, BUILTIN_TASKS, findChromium, type EnvPoolOptions, type PoolEpisodeOptions } from './env.ts';
export type { EpisodeConfig, TaskSource } from './episode.ts';
export { IN_PLACE_REAL_TASKS, type InPlaceTask, type RealResetPoint } from './in-place-tasks.ts';
export type { EnvOptions, Episode, EpisodeCapture, Observation, ResetOptions, StepResult } from './types.ts';
export {
  parseAction,
  parseActions,
  parseCalls,
  checkCall,
  formatAction,
  ActionParseError,
  MAX_NESTING,
  type ParsedAction,
  type PyLiteral,
  type RawCall,
  type ParseOptions,
} from './actions/parser.ts';
export {
  ACTION_SIGNATURES,
  describeActions,
  isActionName,
  MAX_ACTION_CHARS,
  MAX_NOOP_MS,
  MAX_SCROLL_PX,
  type ActionName,
  type ActionArgs,
  type ActionSignature,
  type ParamSpec,
} from './actions/signatures.ts';
export { pageSeedFromEnvSeed, MINIWOB_TASKS } from './miniwob.ts';
export { flattenAxTree, type AXNode } from './observation/axtree.ts';
