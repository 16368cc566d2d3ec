/**
 * Firewall policy rules (api-reference.md §4.4): addresses and ports in the legacy syntax, a `!`
 * prefix negating them and `a:b` port ranges. Addresses are normalised as CloudSigma answered them:
 * a network in CIDR form, a missing prefix meaning one host (`23` → `23.0.0.0/32`,
 * `!172.66.32.55` → `!172.66.32.55/32`).
 */
import { isIPv6 } from 'node:net';
import { errors } from '../../errors.js';
import type { FirewallRule } from './model.js';

/** A rule as `readInput` read it (choices and types are checked already). */
export type RuleInput = Partial<Record<keyof FirewallRule, string | null>>;

export function normalizeRule(input: RuleInput, point: string): FirewallRule {
  const rule: FirewallRule = {
    action: input.action as FirewallRule['action'],
    direction: input.direction as FirewallRule['direction'],
    ip_proto: (input.ip_proto ?? null) as FirewallRule['ip_proto'],
    src_ip: address(input.src_ip, `${point}.src_ip`),
    src_port: port(input.src_port, `${point}.src_port`),
    dst_ip: address(input.dst_ip, `${point}.dst_ip`),
    dst_port: port(input.dst_port, `${point}.dst_port`),
    comment: input.comment ?? null,
  };
  for (const name of ['src_port', 'dst_port'] as const) {
    if (rule[name] !== null && rule.ip_proto === null) {
      throw errors.invalid(
        `${point}.${name}`,
        'A port only applies to tcp or udp: give ip_proto with it',
      );
    }
  }
  return rule;
}

/** Empty or null: any address. */
function address(value: string | null | undefined, point: string): string | null {
  if (value === undefined || value === null || value.trim() === '') return null;
  const text = value.trim();
  const negated = text.startsWith('!');
  const body = negated ? text.slice(1).trim() : text;
  const slash = body.indexOf('/');
  const host = slash < 0 ? body : body.slice(0, slash);
  const prefixText = slash < 0 ? undefined : body.slice(slash + 1);
  const bad = () =>
    errors.invalid(
      point,
      `"${value}" is not an IP address or network (a.b.c.d, a.b.c.d/prefix, or either with a leading !)`,
    );
  let normalized: string;
  let maxPrefix: number;
  if (host.includes(':')) {
    if (!isIPv6(host)) throw bad();
    normalized = host.toLowerCase();
    maxPrefix = 128;
  } else {
    // Missing trailing parts are zeros, as the legacy API read them.
    const parts = host.split('.');
    if (parts.length > 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
      throw bad();
    }
    while (parts.length < 4) parts.push('0');
    normalized = parts.map(Number).join('.');
    maxPrefix = 32;
  }
  let prefix = maxPrefix;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) throw bad();
    prefix = Number(prefixText);
  }
  return `${negated ? '!' : ''}${normalized}/${prefix}`;
}

/** `22`, `!22`, `1:1024`, `!1:1024`; ports 1-65535, a range low to high. */
function port(value: string | null | undefined, point: string): string | null {
  if (value === undefined || value === null || value.trim() === '') return null;
  const match = /^(!?)\s*(\d{1,5})(?::(\d{1,5}))?$/.exec(value.trim());
  const low = Number(match?.[2]);
  const high = match?.[3] === undefined ? low : Number(match[3]);
  if (!match || low < 1 || high > 65535 || low > high) {
    throw errors.invalid(
      point,
      `"${value}" is not a port or port range (1-65535, low:high, either with a leading !)`,
    );
  }
  return `${match[1]}${low}${match[3] === undefined ? '' : `:${high}`}`;
}
