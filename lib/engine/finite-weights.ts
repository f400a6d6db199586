// Weights with NaN or Inf values are refused before the native loader sees them: a model that loads them computes
// NaN everywhere (logits, rewards of 0, a training run that dies in its first rollout) without saying why. The
// weight files of a folder are the ones the native loader reads (model.safetensors, else the shards of
// model.safetensors.index.json); `LFM2_ALLOW_NONFINITE_WEIGHTS=1` turns the error into a warning.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeNonFinite, NonFiniteTensorsError, scanSafetensors } from '../io/nonfinite.ts';

export const ALLOW_NONFINITE_ENV = 'LFM2_ALLOW_NONFINITE_WEIGHTS';

/** The safetensors files the native loader reads from a model folder ([] when it has none: the loader says so). */
export function modelWeightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return [single];
  const index = join(dir, 'model.safetensors.index.json');
  if (!existsSync(index)) return [];
  let map: unknown;
  try {
    map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch {
    return []; // a malformed index is the native loader's error to report
  }
  if (map === null || typeof map !== 'object') return [];
  const shards = new Set<string>();
  for (const f of Object.values(map)) if (typeof f === 'string' && !f.includes('/') && !f.includes('..')) shards.add(f);
  return [...shards].map((f) => join(dir, f));
}

/**
 * Throws NonFiniteTensorsError naming the folder, file and tensor when one of `files` holds NaN or Inf; with
 * LFM2_ALLOW_NONFINITE_WEIGHTS=1 it warns instead. Missing files are skipped (the loader reports them).
 */
export async function checkFiniteWeights(files: readonly string[], warn: (m: string) => void = (m) => console.warn(m)): Promise<void> {
  for (const f of files) {
    if (!existsSync(f)) continue;
    const { bad } = await scanSafetensors(f);
    if (bad.length === 0) continue;
    const what = `${dirname(f)}: ${describeNonFinite(basename(f), bad)}`;
    if (process.env[ALLOW_NONFINITE_ENV] === '1') warn(`warning: ${what}; loading it anyway (${ALLOW_NONFINITE_ENV}=1)`);
    else throw new NonFiniteTensorsError(f, bad, `cannot load ${what} (set ${ALLOW_NONFINITE_ENV}=1 to load it anyway)`);
  }
}
