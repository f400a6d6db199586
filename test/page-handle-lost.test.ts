// CDP calls of a page handle end as soon as the page is lost, and keep nothing once they settle: every observation
// is a few CDP calls with large answers (DOM snapshots, accessibility trees) on a page that may live for a whole run.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { untilLost } from '../lib/env/page-handle.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

describe('untilLost', () => {
  it('passes answers and errors through while the page lives', async () => {
    const { call } = untilLost(async (method, params) => {
      if (method === 'Bad.method') throw new Error('no such method');
      return { method, params };
    });
    await expect(call('DOM.getDocument', { depth: 1 })).resolves.toEqual({ method: 'DOM.getDocument', params: { depth: 1 } });
    await expect(call('Bad.method')).rejects.toThrow('no such method');
  });

  it('a call the renderer never answers fails with the loss, and so does every later call', async () => {
    const { call, lose } = untilLost(() => new Promise(() => undefined));
    const waiting = call('Accessibility.getFullAXTree');
    lose(new Error('Target crashed'));
    lose(new Error('Target page, context or browser has been closed')); // the first loss is the one reported
    await expect(waiting).rejects.toThrow('Target crashed');
    await expect(call('DOM.getDocument')).rejects.toThrow('Target crashed');
  });

  it('keeps no settled answer alive while the page lives', async () => {
    const { call } = untilLost(async () => ({ nodes: new Array(100_000).fill('internalRole') }));
    const answers: WeakRef<object>[] = [];
    for (let i = 0; i < 20; i++) answers.push(new WeakRef((await call('Accessibility.getFullAXTree')) as object));
    await collect();
    // Racing each call against one promise pending for the page's life kept every answer here.
    expect(answers.filter((a) => a.deref() !== undefined)).toHaveLength(0);
  });
});
