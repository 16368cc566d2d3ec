/**
 * Fault injection: "the next N requests that match fail with this error". A fault is checked after
 * authentication and before the route's handler runs, so a failed request has changed nothing.
 * Faults live in this process's memory (with several processes on one PostgreSQL, each has its
 * own), and are matched in the order they were added; a match uses one of the fault's count.
 */
import { ApiError, type ErrorType } from '../errors.js';
import { pathPattern, rulePath } from './paths.js';

export const ERROR_TYPES: readonly ErrorType[] = [
  'validation',
  'notexist',
  'permission',
  'billing',
  'payment',
  'concurrency',
  'backend',
  'database',
];

export interface FaultSpec {
  /** Upper-case HTTP method; undefined matches any but OPTIONS. */
  method?: string;
  /** Path pattern below `/api/2.0` (`*`: one segment's characters); undefined matches any. */
  path?: string;
  /** The `do` query parameter of an action; undefined matches with or without one. */
  action?: string;
  /** Account uuid; undefined matches anyone's requests. */
  account?: string;
  count: number;
  type: ErrorType;
  /** Defaults to the type's usual status. */
  status?: number;
  message: string;
  point: string | null;
}

export interface Fault {
  id: string;
  method: string | null;
  path: string | null;
  action: string | null;
  account: string | null;
  count: number;
  /** Matches left before the fault is gone. */
  remaining: number;
  type: ErrorType;
  status: number;
  message: string;
  point: string | null;
}

/** What a request offers to the matcher. */
export interface FaultTarget {
  method: string;
  /** Below `/api/2.0`. */
  path: string;
  action: string | undefined;
  account: string | undefined;
}

interface Rule {
  fault: Fault;
  pattern: RegExp | undefined;
}

export class Faults {
  private rules: Rule[] = [];
  private next = 1;

  get empty(): boolean {
    return this.rules.length === 0;
  }

  add(spec: FaultSpec): Fault {
    const error = new ApiError(spec.type, spec.message, spec.point, spec.status);
    const fault: Fault = {
      id: String(this.next++),
      method: spec.method?.toUpperCase() ?? null,
      path: spec.path === undefined ? null : rulePath(spec.path),
      action: spec.action ?? null,
      account: spec.account ?? null,
      count: spec.count,
      remaining: spec.count,
      type: spec.type,
      status: error.status,
      message: spec.message,
      point: spec.point,
    };
    this.rules.push({
      fault,
      pattern: spec.path === undefined ? undefined : pathPattern(spec.path),
    });
    return { ...fault };
  }

  list(): Fault[] {
    return this.rules.map((rule) => ({ ...rule.fault }));
  }

  /** False if there is no such fault (any more). */
  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((rule) => rule.fault.id !== id);
    return this.rules.length < before;
  }

  /** Every fault, or (with `account`) those limited to that account. */
  clear(account?: string): void {
    this.rules =
      account === undefined ? [] : this.rules.filter((rule) => rule.fault.account !== account);
  }

  /** The error a request must fail with, if a fault matches it; that fault's count goes down. */
  take(target: FaultTarget): ApiError | undefined {
    const rule = this.rules.find((candidate) => matches(candidate, target));
    if (!rule) return undefined;
    const { fault } = rule;
    fault.remaining--;
    if (fault.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return new ApiError(fault.type, fault.message, fault.point, fault.status);
  }
}

function matches(rule: Rule, target: FaultTarget): boolean {
  const { fault } = rule;
  if (fault.method === null ? target.method === 'OPTIONS' : fault.method !== target.method)
    return false;
  if (fault.action !== null && fault.action !== target.action) return false;
  if (fault.account !== null && fault.account !== target.account) return false;
  return rule.pattern === undefined || rule.pattern.test(target.path);
}
