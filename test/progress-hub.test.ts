import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCount, formatDuration, ProgressBar, startBanner } from '../lib/io/progress.ts';
import { findCachedSnapshot, isHfId, resolveModel } from '../lib/io/hub.ts';

describe('progress bar', () => {
  it('formats durations and counts', () => {
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(3720)).toBe('1h02m');
    expect(formatDuration(-1)).toBe('?');
    expect(formatCount(354483968)).toBe('354.5M');
    expect(formatCount(1536)).toBe('1.5K');
  });

  it('estimates ETA from the rate since start (hand-computed), resumed runs included', () => {
    let now = 0;
    const out: string[] = [];
    const bar = new ProgressBar({ total: 100, startAt: 20, stream: { write: (s: string) => out.push(s) }, now: () => now, minIntervalMs: 0 });
    expect(bar.eta(20)).toBeNull();
    now = 30_000; // 10 steps in 30 s → 3 s/step, 70 left → 210 s
    expect(bar.eta(30)).toBe(210);
    bar.update(30, { reward: 0.5, success: '40%' });
    expect(out[0]).toBe('███████░░░░░░░░░░░░░░░░░ 30/100 30% | 30s elapsed, ETA 3m30s | reward 0.500 · success 40%\n');
  });

  it('redraws in place on a TTY and throttles lines in a log', () => {
    let now = 0;
    const tty: string[] = [];
    const a = new ProgressBar({ total: 4, stream: { write: (s: string) => tty.push(s), isTTY: true, columns: 200 }, now: () => now });
    a.update(1);
    expect(tty[0].startsWith('\r')).toBe(true);
    const log: string[] = [];
    const b = new ProgressBar({ total: 4, stream: { write: (s: string) => log.push(s) }, now: () => now, minIntervalMs: 1000 });
    b.update(1);
    now = 500;
    b.update(2); // within the interval: not printed
    now = 1600;
    b.update(3);
    b.update(4); // the final step always prints
    expect(log.length).toBe(3);
    expect(() => new ProgressBar({ total: 0 })).toThrow(/total must be a positive integer/);
  });

  it('start banner shows model, parameter count, trainable share, device and config', () => {
    const text = startBanner({ model: 'LiquidAI/LFM2-350M', parameters: 354483968, trainable: 1769472, device: 'cpu (2 threads)', configPath: 'configs/lfm2_350m_lora.yaml', runDir: 'runs/x', extra: { tasks: 'click-test' } });
    expect(text).toContain('parameters  354.5M (354,483,968)');
    expect(text).toContain('trainable   1.8M (0.5%)');
    expect(text).toContain('device      cpu (2 threads)');
    expect(text).toContain('config      configs/lfm2_350m_lora.yaml');
    expect(text).toContain('tasks       click-test');
  });
});

describe('model resolution', () => {
  const fakeModel = (dir: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), '{}');
    writeFileSync(join(dir, 'model.safetensors'), 'x');
  };

  it('uses a local folder, and names what is missing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lfm2-hub-'));
    fakeModel(join(root, 'm'));
    expect(await resolveModel(join(root, 'm'))).toEqual({ dir: join(root, 'm'), source: 'local' });
    mkdirSync(join(root, 'empty'));
    await expect(resolveModel(join(root, 'empty'))).rejects.toThrow(/has no config.json/);
    await expect(resolveModel(join(root, 'nope', 'deeper'))).rejects.toThrow(/does not exist .*configs\/tiny_click_test.yaml/s);
  });

  it('finds a cached HF snapshot through refs/main', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'lfm2-hfcache-'));
    const commit = 'a'.repeat(40);
    const repo = join(cache, 'models--LiquidAI--LFM2-350M');
    fakeModel(join(repo, 'snapshots', commit));
    mkdirSync(join(repo, 'refs'));
    writeFileSync(join(repo, 'refs', 'main'), commit + '\n');
    expect(findCachedSnapshot(cache, 'LiquidAI/LFM2-350M')).toBe(join(repo, 'snapshots', commit));
    expect(await resolveModel('LiquidAI/LFM2-350M', { cacheDir: cache, offline: true })).toEqual({ dir: join(repo, 'snapshots', commit), source: 'cache' });
  });

  it('without network says where to put the weights and names the offline config', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'lfm2-hfcache-'));
    const noNet: typeof fetch = async () => {
      throw new TypeError('fetch failed');
    };
    const err = await resolveModel('LiquidAI/LFM2-350M', { cacheDir: cache, fetch: noNet, progress: null }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(/cannot download LiquidAI\/LFM2-350M: no network/);
    expect(msg).toContain(join(cache, 'models--LiquidAI--LFM2-350M'));
    expect(msg).toContain('--model <folder>');
    expect(msg).toContain('configs/tiny_click_test.yaml');
    await expect(resolveModel('LiquidAI/LFM2-350M', { cacheDir: cache, offline: true })).rejects.toThrow(/offline mode/);
  });

  it('tells HF ids from paths', () => {
    expect(isHfId('LiquidAI/LFM2-350M')).toBe(true);
    expect(isHfId('runs/models/tiny')).toBe(false);
    expect(isHfId('./m')).toBe(false);
  });
});
