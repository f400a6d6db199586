// `make bench ARGS="--json FILE"`: the machine, the arguments and every module's rows land in FILE as JSON (one quick
// module here; the numbers themselves are the bench's business, not a test's), a skipped or unknown module is named.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../bench/run.ts';
import { tempDir } from './util/temp-dir.ts';

describe('bench runner --json', () => {
  const dir = tempDir('lfm2-bench-json-');

  it('writes the machine, the arguments and each table as rows', async () => {
    const file = join(dir, 'bench.json');
    expect(await main(['--only', 'attention', '--quick', '--json', file])).toBe(0);
    const out = JSON.parse(readFileSync(file, 'utf8'));
    expect(out).toMatchObject({ format: 'lfm2-rl-bench', version: 1, args: ['--only', 'attention', '--quick', '--json', file] });
    expect(out.machine.logicalCores).toBeGreaterThan(0);
    expect(out.machine.load).toHaveLength(3);
    expect(Date.parse(out.machine.date)).not.toBeNaN();
    expect(out.modules).toHaveLength(1);
    const [m] = out.modules;
    expect(m).toMatchObject({ name: 'attention', status: 'ok' });
    expect(m.rows.length).toBeGreaterThan(0);
    for (const row of m.rows) expect(Object.values(row).some((v) => typeof v === 'number' && v > 0)).toBe(true);
  }, 120_000);

  it('rejects --json without a file and unknown modules before running anything', async () => {
    await expect(main(['--json'])).rejects.toThrow(/--json needs a file name/);
    await expect(main(['--json', '--quick'])).rejects.toThrow(/--json needs a file name/);
    await expect(main(['--only', 'nope'])).rejects.toThrow(/unknown bench module\(s\) nope/);
  });
});
