/**
 * Prometheus metrics (`/metrics`), with a registry per app (never prom-client's global one), so
 * that several apps in one process do not collide: requests by route and status, latency, objects
 * by type and status, tasks queued and running, driver operations.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Store, StoreStats } from './store/types.js';

export interface MetricsSources {
  /** Objects by kind and status, and tasks stored, read at scrape time. */
  store: Pick<Store, 'stats'>;
  /** Tasks running in this process. */
  runningTasks(): number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new RequestSeries(LATENCY_BUCKETS);
  readonly driverOperations: Counter<'driver' | 'operation' | 'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    // One store query per scrape, shared by the gauges that need it.
    let pending: Promise<StoreStats> | undefined;
    const scrape = (): Promise<StoreStats> => {
      pending ??= sources.store.stats().finally(() => {
        pending = undefined;
      });
      return pending;
    };
    // prom-client types its registry for its own classes; it reads any metric through `get()`.
    for (const metric of this.requests.metrics())
      this.registry.registerMetric(metric as unknown as Counter);
    this.driverOperations = new Counter({
      name: 'sigmalite_driver_operations_total',
      help: 'Calls to the compute and storage drivers by operation and outcome',
      labelNames: ['driver', 'operation', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'sigmalite_objects',
      help: 'Stored objects by type and status',
      labelNames: ['kind', 'status'],
      registers,
      async collect() {
        const stats = await scrape();
        this.reset();
        for (const row of stats.objects) {
          this.set({ kind: row.kind, status: row.status ?? '' }, row.count);
        }
      },
    });
    new Gauge({
      name: 'sigmalite_tasks',
      help: 'Lifecycle tasks queued in the store and running in this process',
      labelNames: ['state'],
      registers,
      async collect() {
        const stats = await scrape();
        const running = sources.runningTasks();
        // Stored tasks include the ones running here (they stay stored until they finish).
        this.set({ state: 'queued' }, Math.max(0, stats.tasks - running));
        this.set({ state: 'running' }, running);
      },
    });
  }

  /** Records one request; `route` is the route pattern (never the raw URL: bounded labels). */
  observe(method: string, route: string, status: number, seconds: number): void {
    this.requests.observe(method, route, status, seconds);
  }

  /** Wraps a driver so every call is counted by operation and outcome. */
  instrument<T extends object>(driver: T, name: string): T {
    const counter = this.driverOperations;
    return new Proxy(driver, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (
          typeof value !== 'function' ||
          typeof property !== 'string' ||
          property === 'constructor'
        ) {
          return value;
        }
        return (...args: unknown[]) => {
          try {
            const result = (value as (...a: unknown[]) => unknown).apply(target, args);
            if (result instanceof Promise) {
              return result.then(
                (v) => {
                  counter.inc({ driver: name, operation: property, outcome: 'ok' });
                  return v;
                },
                (e: unknown) => {
                  counter.inc({ driver: name, operation: property, outcome: 'error' });
                  throw e;
                },
              );
            }
            counter.inc({ driver: name, operation: property, outcome: 'ok' });
            return result;
          } catch (e) {
            counter.inc({ driver: name, operation: property, outcome: 'error' });
            throw e;
          }
        };
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface Series {
  method: string;
  route: string;
  status: string;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  buckets: number[];
}

/**
 * Request counts and latencies per method, route and status, for the requests counter and the
 * latency histogram. Aggregated here rather than in prom-client's Counter and Histogram: those
 * hash and validate their labels on every call, a few microseconds on each API request; this
 * costs one Map lookup, and the work of building the samples moves to the scrape.
 */
class RequestSeries {
  private readonly series = new Map<string, Series>();

  constructor(private readonly bounds: readonly number[]) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.series.get(key);
    if (!series) {
      series = {
        method,
        route,
        status: String(status),
        count: 0,
        sum: 0,
        buckets: new Array<number>(this.bounds.length + 1).fill(0),
      };
      this.series.set(key, series);
    }
    series.count++;
    series.sum += seconds;
    let bucket = 0;
    while (bucket < this.bounds.length && seconds > this.bounds[bucket]!) bucket++;
    series.buckets[bucket]!++;
  }

  /** The counter and the histogram, as the registry reads metrics (`get()`, `reset()`). */
  metrics(): RegistryMetric[] {
    const metric = (name: string, help: string, type: string, samples: () => Sample[]) => {
      const registered: RegistryMetric = {
        // The registry renames counters for OpenMetrics (`_total` comes off): read it back.
        name,
        help,
        type,
        get: async () => ({
          name: registered.name,
          help,
          type,
          aggregator: 'sum',
          values: samples(),
        }),
        reset: () => this.series.clear(),
      };
      return registered;
    };
    const latency = 'sigmalite_http_request_duration_seconds';
    return [
      metric(
        'sigmalite_http_requests_total',
        'API requests by method, route and status',
        'counter',
        () =>
          [...this.series.values()].map((s) => ({
            labels: { method: s.method, route: s.route, status: s.status },
            value: s.count,
          })),
      ),
      metric(latency, 'API request latency by method and route', 'histogram', () =>
        this.histogramSamples(latency),
      ),
    ];
  }

  /** Cumulative buckets, sum and count per method and route (statuses merged). */
  private histogramSamples(name: string): Sample[] {
    const byRoute = new Map<string, Omit<Series, 'status' | 'count'>>();
    for (const s of this.series.values()) {
      const key = `${s.method} ${s.route}`;
      let merged = byRoute.get(key);
      if (!merged) {
        const buckets = new Array<number>(s.buckets.length).fill(0);
        merged = { method: s.method, route: s.route, sum: 0, buckets };
        byRoute.set(key, merged);
      }
      merged.sum += s.sum;
      for (let i = 0; i < s.buckets.length; i++) merged.buckets[i]! += s.buckets[i]!;
    }
    const samples: Sample[] = [];
    for (const { method, route, sum, buckets } of byRoute.values()) {
      let cumulative = 0;
      buckets.forEach((count, i) => {
        cumulative += count;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        samples.push({
          labels: { method, route, le },
          value: cumulative,
          metricName: `${name}_bucket`,
        });
      });
      samples.push({ labels: { method, route }, value: sum, metricName: `${name}_sum` });
      samples.push({ labels: { method, route }, value: cumulative, metricName: `${name}_count` });
    }
    return samples;
  }
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  /** The sample's name when it is not the metric's (`_bucket`, `_sum`, `_count`). */
  metricName?: string;
}

interface RegistryMetric {
  name: string;
  help: string;
  type: string;
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Sample[];
  }>;
  reset(): void;
}
