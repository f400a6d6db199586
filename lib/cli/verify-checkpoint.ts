// `lfm2-rl verify-checkpoint DIR [--json]`: the full check `--resume` and `eval` apply to a checkpoint
// (lib/io/checkpoint.ts inspectCheckpoint): every file against the size and SHA-256 in its completion marker, no
// files added, only finite values in its safetensors files. DIR is a checkpoint folder, or a run folder (then every
// checkpoint-<step> in it). Prints one line per file; exits 1 when anything is wrong.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COMPLETE_MARKER, inspectCheckpoint, listCheckpoints, stepOfCheckpointDir, unhashedWarning, type CheckpointReport } from '../io/checkpoint.ts';

export const summary = 'check a checkpoint (or every checkpoint of a run) against its recorded SHA-256 hashes';

const usage = `usage: lfm2-rl verify-checkpoint DIR [--json]
  DIR     a checkpoint folder (with ${COMPLETE_MARKER}), or a run folder: every checkpoint-<step> in it
  --json  print the reports as JSON instead of text
exit status: 0 every file verified, 1 a problem was found (missing, modified, added or truncated file, NaN/Inf
values, no or corrupt marker), 2 bad arguments`;

/** The checkpoint folders DIR stands for, with the step their name says. */
function targets(dir: string): Array<{ dir: string; step: number | undefined }> {
  if (existsSync(join(dir, COMPLETE_MARKER))) return [{ dir, step: stepOfCheckpointDir(dir) }];
  const inRun = listCheckpoints(dir).map((c) => ({ dir: c.dir, step: c.step }));
  return inRun.length > 0 ? inRun : [{ dir, step: undefined }]; // a lone folder without a marker is reported as such
}

function formatReport(r: CheckpointReport): string {
  const lines = [`${r.dir}: ${r.ok ? 'ok' : 'FAILED'}${r.step !== null ? ` (step ${r.step})` : ''}`];
  if (r.files.length === 0 && r.reason) lines.push(`  ${r.reason}`);
  const width = Math.max(0, ...r.files.map((f) => f.status.length));
  for (const f of r.files) lines.push(`  ${f.status.padEnd(width)}  ${f.file}: ${f.detail}`);
  if (r.ok && !r.hashed) lines.push(`  warning: ${unhashedWarning(r.dir)}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`lfm2-rl verify-checkpoint: ${(e as Error).message}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`lfm2-rl verify-checkpoint: expected one folder, got ${positionals.length}\n${usage}`);
    return 2;
  }
  const dir = positionals[0];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    console.error(`lfm2-rl verify-checkpoint: ${dir} is not a folder`);
    return 2;
  }
  const reports: CheckpointReport[] = [];
  for (const t of targets(dir)) reports.push(await inspectCheckpoint(t.dir, t.step));
  if (values.json) console.log(JSON.stringify(reports, null, 2));
  else console.log(reports.map(formatReport).join('\n'));
  return reports.every((r) => r.ok) ? 0 : 1;
}
