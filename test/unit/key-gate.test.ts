import { KeyGate } from '../../activities/key-gate';

const never = new AbortController().signal;

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('KeyGate: one attempt at a time per key', () => {
  test('a second attempt on the key waits for the first; other keys do not', async () => {
    const gate = new KeyGate();
    const first = deferred();
    const order: string[] = [];
    let waited = 0;
    const a = gate.run('k', never, async () => {
      order.push('a start');
      await first.promise;
      order.push('a end');
    });
    const b = gate.run('k', never, async () => void order.push('b'), { onWait: () => waited++ });
    const other = gate.run('other', never, async () => void order.push('other'));
    await other;
    await tick();
    expect(order).toEqual(['a start', 'other']);
    expect(waited).toBe(1);
    first.resolve();
    await Promise.all([a, b]);
    expect(order).toEqual(['a start', 'other', 'a end', 'b']);
    expect(gate.size).toBe(0);
  });

  test('a failed attempt lets the next one run', async () => {
    const gate = new KeyGate();
    const a = gate.run('k', never, async () => {
      throw new Error('boom');
    });
    await expect(a).rejects.toThrow('boom');
    await expect(gate.run('k', never, async () => 'ran')).resolves.toBe('ran');
  });

  test('a waiting attempt that is cancelled stops waiting; the one after it still waits for the first', async () => {
    const gate = new KeyGate();
    const first = deferred();
    const order: string[] = [];
    const a = gate.run('k', never, async () => {
      await first.promise;
      order.push('a');
    });
    const cancel = new AbortController();
    const b = gate.run('k', cancel.signal, async () => void order.push('b'));
    const c = gate.run('k', never, async () => void order.push('c'));
    cancel.abort(new Error('timed out'));
    await expect(b).rejects.toThrow('timed out');
    await tick();
    expect(order).toEqual([]); // c does not overtake a
    first.resolve();
    await Promise.all([a, c]);
    expect(order).toEqual(['a', 'c']);
    expect(gate.size).toBe(0);
  });

  test('an attempt already cancelled does not run when it would have to wait', async () => {
    const gate = new KeyGate();
    const first = deferred();
    const a = gate.run('k', never, () => first.promise);
    const cancelled = AbortSignal.abort(new Error('cancelled'));
    let ran = false;
    await expect(gate.run('k', cancelled, async () => void (ran = true))).rejects.toThrow('cancelled');
    first.resolve();
    await a;
    expect(ran).toBe(false);
  });
});
