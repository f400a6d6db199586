// What the user sees while a run is going: a start banner (model, parameter count, trainable share, device, config,
// run folder) and a progress bar with ETA and live fields (reward, success …). On a TTY the bar redraws in place;
// in a log file it prints a plain line at most every `minIntervalMs`.

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  total: number;
  label?: string;
  /** Steps already done when the bar starts (resumed run); the ETA uses only the rate since the start. */
  startAt?: number;
  stream?: ProgressStream;
  /** Milliseconds clock, injectable for tests. */
  now?: () => number;
  /** Non-TTY output: minimum milliseconds between printed lines. */
  minIntervalMs?: number;
}

/** 5s, 3m05s, 1h02m, 2d03h. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** 354483968 → 354.5M, 1536 → 1.5K. */
export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

function fieldText(v: string | number): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

export class ProgressBar {
  private readonly total: number;
  private readonly label: string;
  private readonly startAt: number;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private readonly t0: number;
  private lastPrint = -Infinity;
  private lastLine = '';

  constructor(opts: ProgressOptions) {
    if (!Number.isInteger(opts.total) || opts.total < 1) throw new Error(`ProgressBar: total must be a positive integer, got ${opts.total}`);
    this.total = opts.total;
    this.label = opts.label ?? '';
    this.startAt = opts.startAt ?? 0;
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => performance.now());
    this.minIntervalMs = opts.minIntervalMs ?? 10_000;
    this.t0 = this.now();
  }

  /** Seconds left at the average rate since the bar started; null before the first step. */
  eta(done: number): number | null {
    const progressed = done - this.startAt;
    if (progressed <= 0) return null;
    const elapsed = (this.now() - this.t0) / 1000;
    return (elapsed / progressed) * Math.max(0, this.total - done);
  }

  /** The bar text for `done` steps with extra fields. */
  render(done: number, fields: Record<string, string | number> = {}): string {
    const frac = Math.min(1, Math.max(0, done / this.total));
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const elapsed = (this.now() - this.t0) / 1000;
    const eta = this.eta(done);
    const extras = Object.entries(fields).map(([k, v]) => `${k} ${fieldText(v)}`);
    const head = this.label ? `${this.label} ` : '';
    let line = `${head}${bar} ${done}/${this.total} ${(frac * 100).toFixed(0)}% | ${formatDuration(elapsed)} elapsed, ETA ${eta === null ? '?' : formatDuration(eta)}`;
    if (extras.length > 0) line += ` | ${extras.join(' · ')}`;
    const cols = this.stream.columns;
    return cols && this.stream.isTTY && line.length > cols - 1 ? line.slice(0, cols - 1) : line;
  }

  update(done: number, fields: Record<string, string | number> = {}): void {
    const line = this.render(done, fields);
    this.lastLine = line;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}\x1b[K`);
      return;
    }
    const t = this.now();
    if (t - this.lastPrint >= this.minIntervalMs || done >= this.total) {
      this.stream.write(line + '\n');
      this.lastPrint = t;
    }
  }

  /** Prints a message above the bar (TTY) without breaking it. */
  log(message: string): void {
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${message}\n${this.lastLine}`);
    else this.stream.write(message + '\n');
  }

  finish(done: number, fields: Record<string, string | number> = {}): void {
    const line = this.render(done, fields);
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K\n`);
    else this.stream.write(line + '\n');
  }
}

export interface BannerInfo {
  model: string;
  parameters: number;
  trainable: number;
  device: string;
  configPath: string | null;
  runDir: string;
  /** Further key → value lines (tasks, steps, group size …). */
  extra?: Record<string, string | number>;
}

/** Multi-line start banner. */
export function startBanner(info: BannerInfo): string {
  const share = info.parameters > 0 ? (100 * info.trainable) / info.parameters : 0;
  const rows: Array<[string, string]> = [
    ['model', info.model],
    ['parameters', `${formatCount(info.parameters)} (${info.parameters.toLocaleString('en-US')})`],
    ['trainable', `${formatCount(info.trainable)} (${share < 0.1 && share > 0 ? share.toFixed(3) : share.toFixed(1)}%)`],
    ['device', info.device],
    ['config', info.configPath ?? '(defaults)'],
    ['run folder', info.runDir],
    ...Object.entries(info.extra ?? {}).map(([k, v]) => [k, String(v)] as [string, string]),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return ['lfm2-rl train', ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}
