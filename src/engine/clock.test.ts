import { describe, expect, it } from 'vitest';
import { ControlledClock } from './clock.js';

function fakeReal(start = 1_000_000) {
  let t = start;
  return { now: () => t, add: (ms: number) => (t += ms) };
}

describe('ControlledClock', () => {
  it('runs in real time by default', async () => {
    const clock = new ControlledClock();
    const before = Date.now();
    await clock.sleep(20);
    expect(Date.now() - before).toBeGreaterThanOrEqual(19);
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(5);
  });

  it('scales: a 1000 ms sleep at 50x takes about 20 ms', async () => {
    const clock = new ControlledClock();
    clock.setScale(50);
    const before = Date.now();
    const t0 = clock.now();
    await clock.sleep(1000);
    const real = Date.now() - before;
    expect(real).toBeLessThan(200);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('stops when manual, and advance wakes sleepers in order of their time', async () => {
    const real = fakeReal();
    const clock = new ControlledClock(real.now);
    clock.setScale(0);
    const woke: string[] = [];
    void clock.sleep(300).then(() => woke.push('300'));
    void clock.sleep(100).then(() => woke.push('100'));
    const t0 = clock.now();
    real.add(10_000);
    expect(clock.now()).toBe(t0);
    clock.advance(150);
    await Promise.resolve();
    expect(woke).toEqual(['100']);
    expect(clock.state()).toMatchObject({ mode: 'manual', pending: 1, now: t0 + 150 });
    clock.advance(150);
    await Promise.resolve();
    expect(woke).toEqual(['100', '300']);
  });

  it('keeps time continuous across scale changes', () => {
    const real = fakeReal();
    const clock = new ControlledClock(real.now);
    const t0 = clock.now();
    real.add(100);
    clock.setScale(10);
    real.add(100);
    expect(clock.now()).toBe(t0 + 100 + 1000);
    clock.setScale(1);
    real.add(5);
    expect(clock.now()).toBe(t0 + 1105);
  });

  it('rejects an aborted sleep and forgets it', async () => {
    const clock = new ControlledClock();
    clock.setScale(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(1000, controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(sleeping).rejects.toThrow('cancelled');
    expect(clock.state().pending).toBe(0);
  });

  it('interrupts every pending sleep, and only those', async () => {
    const clock = new ControlledClock(fakeReal().now);
    clock.setScale(0);
    const first = clock.sleep(10);
    const second = clock.sleep(20);
    clock.interrupt(new Error('stopping'));
    await expect(first).rejects.toThrow('stopping');
    await expect(second).rejects.toThrow('stopping');
    expect(clock.state().pending).toBe(0);
    const later = clock.sleep(10);
    clock.advance(10);
    await expect(later).resolves.toBeUndefined();
  });
});
