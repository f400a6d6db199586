// Contract between bench/run.ts and the bench modules. A module exports one async function
// `(ctx: BenchContext) => Promise<BenchRow[]>`; run.ts prints the rows as one table.
export type BenchCell = string | number | boolean | null | undefined;
/** One table row: column name -> value. Columns appear in first-seen order; numbers are formatted by run.ts. */
export type BenchRow = Record<string, BenchCell>;

export interface BenchContext {
  /** --gpu was given: modules with a CUDA path should measure it too. */
  gpu: boolean;
  /** Arguments after the ones run.ts understands (e.g. `make bench ARGS="--only gemm --quick"`). */
  args: string[];
  /** --quick: fewer shapes / repetitions, for a smoke run. */
  quick: boolean;
  /** Progress line on stderr (tables go to stdout). */
  log(msg: string): void;
}

export type BenchFn = (ctx: BenchContext) => Promise<BenchRow[]>;
