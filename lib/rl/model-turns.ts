// Turns on the one native model that the sampler and the trainer share, while a rollout round runs beside a training
// step (async_rollouts, lib/rl/trainer.ts). Native calls already run off the JS thread, but they must not run together:
// they share the model's buffers and the CPU pool, and with LoRA on the CPU generation needs the adapter merged into
// the base while training needs it apart. So every native call of either side waits its turn here (first come, first
// served), and the model is switched between generation and training as the turns alternate. The switch keeps the
// sampler's prefix cache (the weights come back byte for byte), so the round's tokens do not depend on how its calls
// happened to interleave with the trainer's: only the order of the round's own calls matters, and that is fixed.
// The overlap this buys is the browser's time: while the round's pages load and act, the trainer holds the model.
import type { TrainEngine } from './engine-types.ts';
import type { Generator } from './generator.ts';

type Mode = 'training' | 'generation' | 'suspended';

export class ModelTurns {
  private tail: Promise<unknown> = Promise.resolve();
  private mode: Mode = 'training';
  private inRound = false;

  constructor(private readonly engine: Pick<TrainEngine, 'beginGeneration' | 'endGeneration' | 'suspendGeneration' | 'resumeGeneration'>) {}

  /** Runs `fn` once every call queued before it has settled; nothing else runs on the model meanwhile. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * One rollout round: the model is prepared for sampling (the cache cleared, CPU LoRA merged) in its first turn and
   * given back to training in its last; `fn` samples only through the generator it is handed.
   */
  async round<T>(generator: Generator, fn: (g: Generator) => Promise<T>): Promise<T> {
    if (this.inRound) throw new Error('ModelTurns: a rollout round is already running');
    this.inRound = true;
    try {
      await this.exclusive(async () => {
        await this.engine.beginGeneration();
        this.mode = 'generation';
      });
      const gated: Generator = {
        generate: (requests, settings) =>
          this.exclusive(async () => {
            if (this.mode === 'suspended') await this.resume();
            return generator.generate(requests, settings);
          }),
      };
      try {
        return await fn(gated);
      } finally {
        await this.exclusive(async () => {
          if (this.mode === 'suspended') await this.resume();
          this.mode = 'training';
          await this.engine.endGeneration();
        });
      }
    } finally {
      this.inRound = false;
    }
  }

  /** A training call (forward/backward, reference scores, optimizer step) in its own turn, with training weights. */
  train<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      if (this.mode === 'generation') {
        await this.engine.suspendGeneration?.();
        this.mode = 'suspended';
      }
      return fn();
    });
  }

  private async resume(): Promise<void> {
    await this.engine.resumeGeneration?.();
    this.mode = 'generation';
  }
}
