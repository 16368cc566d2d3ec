import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogDestination } from './log-destination.js';

const opened: { fd: number; destination: LogDestination }[] = [];

function open(options: ConstructorParameters<typeof LogDestination>[1] = {}) {
  const file = join(mkdtempSync(join(tmpdir(), 'sigmalite-log-')), 'log');
  const fd = openSync(file, 'w');
  const destination = new LogDestination(fd, { flushIntervalMs: 60_000, ...options });
  opened.push({ fd, destination });
  return { destination, read: () => readFileSync(file, 'utf8') };
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
};

afterEach(() => {
  for (const { fd, destination } of opened.splice(0)) {
    destination.close();
    closeSync(fd);
  }
});

describe('LogDestination', () => {
  it('holds lines until enough are pending, then writes them in one go, in order', async () => {
    const { destination, read } = open({ minLength: 30 });
    destination.write('one 123456\n');
    destination.write('two 123456\n');
    await new Promise((r) => setTimeout(r, 20));
    expect(read()).toBe('');
    destination.write('three 1234\n');
    await until(() => read() !== '');
    expect(read()).toBe('one 123456\ntwo 123456\nthree 1234\n');
  });

  it('writes what is pending on its timer', async () => {
    const { destination, read } = open({ flushIntervalMs: 10 });
    destination.write('{"msg":"quiet"}\n');
    await until(() => read() !== '');
    expect(read()).toBe('{"msg":"quiet"}\n');
  });

  it('keeps every line, in order, whatever the batch sizes', () => {
    const { destination, read } = open({ minLength: 100 });
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${'é'.repeat(i % 7)}\n`);
    for (const line of lines) destination.write(line);
    destination.close();
    expect(read()).toBe(lines.join(''));
  });

  it("calls a flush's callback once what was written before it is out (pino's logger.flush)", async () => {
    const { destination, read } = open();
    destination.write('a\n');
    destination.write('b\n');
    expect(read()).toBe('');
    expect(await new Promise<string>((resolve) => destination.flush(() => resolve(read())))).toBe(
      'a\nb\n',
    );
  });

  it('writes what is pending on close, and nothing after', () => {
    const { destination, read } = open();
    destination.write('last words\n');
    destination.close();
    expect(read()).toBe('last words\n');
    expect(destination.write('too late\n')).toBe(false);
    expect(read()).toBe('last words\n');
  });

  it('drops lines beyond its bound and says how many', () => {
    const { destination, read } = open({ maxPending: 10 });
    destination.write('12345678\n');
    destination.write('overflow\n');
    destination.write('overflow\n');
    destination.flushSync();
    const [kept, note] = read().trimEnd().split('\n');
    expect(kept).toBe('12345678');
    expect(JSON.parse(note!)).toMatchObject({ level: 40, msg: 'log lines dropped', dropped: 2 });
  });
});
