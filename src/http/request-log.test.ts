import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { pinoInfoWriter } from './request-log.js';

function capture(options: pino.LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'info', ...options }, { write: (line: string) => lines.push(line) });
  return { logger, lines };
}

describe('the request line writer', () => {
  it('writes the line pino itself would write, byte for byte but the time', () => {
    const { logger, lines } = capture();
    const write = pinoInfoWriter(logger);
    expect(write).toBeDefined();
    write!(',"request_id":"ab","path":"/x\\"y","status":200', 'request');
    logger.info({ request_id: 'ab', path: '/x"y', status: 200 }, 'request');
    const [fast, slow] = lines.map((line) => line.replace(/"time":\d+/, '"time":0'));
    expect(fast).toBe(slow);
    expect(fast!.endsWith('}\n')).toBe(true);
  });

  it('ends lines as the logger does (crlf) and takes its time function', () => {
    const { logger, lines } = capture({ crlf: true, timestamp: () => ',"time":"then"' });
    pinoInfoWriter(logger)!(',"status":200', 'request');
    logger.info({ status: 200 }, 'request');
    expect(lines[0]).toBe(lines[1]);
    expect(lines[0]!.endsWith('}\r\n')).toBe(true);
  });

  it('keeps the bindings of a child logger', () => {
    const { logger, lines } = capture();
    const child = logger.child({ component: 'api' });
    pinoInfoWriter(child)!(',"status":204', 'request');
    expect(JSON.parse(lines[0]!)).toMatchObject({ component: 'api', status: 204, msg: 'request' });
  });

  it('leaves loggers it cannot imitate, and levels above info, to the logger', () => {
    expect(pinoInfoWriter(capture({ level: 'warn' }).logger)).toBeUndefined();
    expect(pinoInfoWriter(capture({ mixin: () => ({ x: 1 }) }).logger)).toBeUndefined();
    expect(pinoInfoWriter(capture({ formatters: { log: (o) => o } }).logger)).toBeUndefined();
    expect(pinoInfoWriter(capture({ redact: ['path'] }).logger)).toBeUndefined();
    expect(pinoInfoWriter(capture({ nestedKey: 'payload' }).logger)).toBeUndefined();
    expect(pinoInfoWriter(capture({ serializers: { path: (p) => p } }).logger)).toBeUndefined();
    expect(
      pinoInfoWriter(capture({ hooks: { logMethod: (args, method) => method(...args) } }).logger),
    ).toBeUndefined();
  });
});
