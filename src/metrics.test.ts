import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.js';

const metrics = () =>
  new Metrics({
    store: { stats: async () => ({ objects: [], tasks: 0 }) },
    runningTasks: () => 0,
  });

/** The exposition's samples of one metric family, as `name{labels} value` lines. */
const samples = (text: string, prefix: string) =>
  text.split('\n').filter((line) => line.startsWith(prefix));

describe('request metrics', () => {
  it('counts requests by method, route and status', async () => {
    const m = metrics();
    m.observe('GET', '/servers/', 200, 0.0004);
    m.observe('GET', '/servers/', 200, 0.003);
    m.observe('GET', '/servers/', 404, 0.0001);
    expect(samples(await m.text(), 'sigmalite_http_requests_total')).toEqual([
      'sigmalite_http_requests_total{method="GET",route="/servers/",status="200"} 2',
      'sigmalite_http_requests_total{method="GET",route="/servers/",status="404"} 1',
    ]);
  });

  it('keeps a latency histogram per method and route: cumulative buckets, +Inf, sum, count', async () => {
    const m = metrics();
    m.observe('POST', '/drives/', 201, 0.0005);
    m.observe('POST', '/drives/', 400, 0.002);
    m.observe('POST', '/drives/', 201, 9);
    const lines = samples(await m.text(), 'sigmalite_http_request_duration_seconds');
    const bucket = (le: string) => lines.find((l) => l.includes(`le="${le}"`))?.split(' ')[1];
    expect(bucket('0.0005')).toBe('1');
    expect(bucket('0.001')).toBe('1');
    expect(bucket('0.0025')).toBe('2');
    expect(bucket('2.5')).toBe('2');
    expect(bucket('+Inf')).toBe('3');
    expect(lines).toContain(
      'sigmalite_http_request_duration_seconds_count{method="POST",route="/drives/"} 3',
    );
    const sum = lines.find((l) => l.startsWith('sigmalite_http_request_duration_seconds_sum'));
    expect(Number(sum?.split(' ')[1])).toBeCloseTo(9.0025);
  });

  it('names the counter once in the OpenMetrics format too', async () => {
    const m = metrics();
    m.observe('GET', '/servers/', 200, 0.001);
    // The app's registry is typed for the Prometheus format; the OpenMetrics one is a setting away.
    (
      m.registry as unknown as Registry<'application/openmetrics-text; version=1.0.0; charset=utf-8'>
    ).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const text = await m.text();
    expect(samples(text, 'sigmalite_http_requests_total')).toEqual([
      'sigmalite_http_requests_total{method="GET",route="/servers/",status="200"} 1',
    ]);
    expect(text).toContain('# TYPE sigmalite_http_requests counter');
  });
});
