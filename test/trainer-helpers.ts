// Shared setup of the trainer tests: the tiny offline config with a fixed seed, runs in a temporary folder, and an
// output stream that records what the user would see.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type TrainConfig } from '../lib/io/config.ts';
import type { ProgressStream } from '../lib/io/progress.ts';

export const TINY_CONFIG = 'configs/tiny_click_test.yaml';

const roots: string[] = [];

/** A temporary root holding the tiny model (created on first use by the run) and the run folders. */
export function tempRoot(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lfm2-rl-${prefix}-`));
  roots.push(dir);
  return dir;
}

/** Removes every root made by tempRoot (call from afterAll). */
export function removeTempRoots(): void {
  for (const d of roots.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The tiny config with the model and runs under `root`, plus `--key value` overrides. */
export function tinyConfig(root: string, overrides: string[] = []): TrainConfig {
  return loadConfig(TINY_CONFIG, ['--model', join(root, 'model'), '--output_dir', join(root, 'runs'), ...overrides]);
}

export class CaptureStream implements ProgressStream {
  text = '';
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
