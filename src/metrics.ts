/**
 * Prometheus metrics (`/metrics`), with a registry per app (never prom-client's global one), so
 * that several apps in one process do not collide: requests by route and status, latency, objects
 * by type and status, tasks queued and running, driver operations.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store, StoreStats } from './store/types.js';

export interface MetricsSources {
  /** Objects by kind and status, and tasks stored, read at scrape time. */
  store: Pick<Store, 'stats'>;
  /** Tasks running in this process. */
  runningTasks(): number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
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
    this.requests = new Counter({
      name: 'sigmalite_http_requests_total',
      help: 'API requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'sigmalite_http_request_duration_seconds',
      help: 'API request latency by method and route',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
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
    this.requests.inc({ method, route, status: String(status) });
    this.latency.observe({ method, route }, seconds);
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
