/**
 * The pure pieces of networking and billing: money arithmetic, subscription time (periods, noon
 * rounding, Python's timedelta text), firewall rule normalisation and the address pool syntax.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { cost } from '../../src/resources/billing/catalogue.js';
import { formatMoney, money, mulDiv } from '../../src/resources/billing/money.js';
import {
  addPeriod,
  isoTime,
  nextNoon,
  parsePeriod,
  parseTime,
  previousNoon,
  timedeltaText,
} from '../../src/resources/billing/periods.js';
import { normalizeRule } from '../../src/resources/networking/firewall.js';
import { AddressPool, TagRange } from '../../src/resources/networking/pool.js';

describe('money', () => {
  it('reads decimal text exactly, exponents included, and writes 20 places', () => {
    expect(formatMoney(money('10000.00'))).toBe('10000.00000000000000000000');
    expect(formatMoney(money('0E-20'))).toBe('0.00000000000000000000');
    expect(formatMoney(money('-55.45'))).toBe('-55.45000000000000000000');
    expect(formatMoney(money('1.5e2'))).toBe('150.00000000000000000000');
    expect(formatMoney(money(0.1) + money(0.2))).toBe('0.30000000000000000000');
    expect(formatMoney(money('0.000000000000000000005'))).toBe('0.00000000000000000001');
    expect(formatMoney(money('155367.99237092264288897986'))).toBe('155367.99237092264288897986');
    expect(formatMoney(money('2.345'), 2)).toBe('2.35');
    expect(() => money('abc')).toThrow(/not a decimal/);
    expect(() => money('.')).toThrow(/not a decimal/);
    expect(mulDiv(10n, 1n, 3n)).toBe(3n);
    expect(mulDiv(-10n, 1n, 4n)).toBe(-3n);
  });

  it('prices per unit and time from the catalogue', () => {
    // 30 GiB of dssd for 30 days at 0.21 a GB-month.
    expect(formatMoney(cost('dssd', 32212254720n, 30 * 86400))).toBe('6.30000000000000000000');
    // Transfer is per GB, whatever the time.
    expect(formatMoney(cost('tx', 2147483648n, 1))).toBe('0.10000000000000000000');
    expect(cost('nothing', 1n, 1)).toBe(0n);
  });
});

describe('subscription time', () => {
  const t = (iso: string) => Date.parse(iso);

  it('reads free-form periods and refuses what is not one', () => {
    expect(parsePeriod('1 month')).toEqual({ months: 1, ms: 0 });
    expect(parsePeriod('2 Months 1 week')).toEqual({ months: 2, ms: 7 * 86_400_000 });
    expect(parsePeriod('1 year, 3 days')).toEqual({ months: 12, ms: 3 * 86_400_000 });
    expect(parsePeriod('36 hours 30 minutes 5 seconds')).toEqual({
      months: 0,
      ms: 36 * 3_600_000 + 30 * 60_000 + 5000,
    });
    for (const bad of ['', 'month', '1 fortnight', '0 days', 'one month', '1 month and a day']) {
      expect(parsePeriod(bad), bad).toBeUndefined();
    }
  });

  it('adds calendar months (clamped to the month end) and subtracts them', () => {
    expect(addPeriod(t('2013-03-22T10:28:06Z'), parsePeriod('1 month')!)).toBe(
      t('2013-04-22T10:28:06Z'),
    );
    expect(addPeriod(t('2030-01-31T12:00:00Z'), parsePeriod('1 month')!)).toBe(
      t('2030-02-28T12:00:00Z'),
    );
    expect(addPeriod(t('2032-02-29T00:00:00Z'), parsePeriod('1 year')!)).toBe(
      t('2033-02-28T00:00:00Z'),
    );
    expect(addPeriod(t('2030-05-01T12:00:00Z'), parsePeriod('2 months')!, -1)).toBe(
      t('2030-03-01T12:00:00Z'),
    );
  });

  it('rounds to noon UTC and writes times as Django does', () => {
    expect(nextNoon(t('2013-04-22T10:28:06Z'))).toBe(t('2013-04-22T12:00:00Z'));
    expect(nextNoon(t('2013-04-22T12:00:00Z'))).toBe(t('2013-04-22T12:00:00Z'));
    expect(nextNoon(t('2013-04-22T12:00:01Z'))).toBe(t('2013-04-23T12:00:00Z'));
    expect(previousNoon(t('2013-04-22T10:28:06Z'))).toBe(t('2013-04-21T12:00:00Z'));
    expect(previousNoon(t('2013-04-22T15:00:00Z'))).toBe(t('2013-04-22T12:00:00Z'));
    expect(isoTime(t('2013-03-22T10:28:06Z'))).toBe('2013-03-22T10:28:06+00:00');
    expect(isoTime(t('2013-03-22T10:28:06.111Z'))).toBe('2013-03-22T10:28:06.111000+00:00');
    // The create fixture's period: end (noon) minus start.
    expect(timedeltaText(t('2013-04-22T12:00:00Z') - t('2013-03-22T10:28:06.112Z'))).toBe(
      '31 days, 1:31:53.888000',
    );
    expect(timedeltaText(366 * 86_400_000)).toBe('366 days, 0:00:00');
    expect(timedeltaText(86_400_000 + 5000)).toBe('1 day, 0:00:05');
    expect(timedeltaText(59_000)).toBe('0:00:59');
    expect(parseTime('2015-03-19T13:55:00+01:00')).toBe(t('2015-03-19T12:55:00Z'));
    expect(parseTime('2015-03-19 13:55:00')).toBe(t('2015-03-19T13:55:00Z'));
    expect(parseTime('2015-03-19')).toBe(t('2015-03-19T00:00:00Z'));
    expect(parseTime('next tuesday')).toBeUndefined();
  });
});

describe('firewall rules', () => {
  const point = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof ApiError ? e.point : 'not an ApiError';
    }
    return 'no error';
  };

  it('normalises the legacy syntax and names the field it refuses', () => {
    expect(
      normalizeRule(
        {
          action: 'drop',
          direction: 'in',
          ip_proto: 'tcp',
          src_ip: '!10.0.0.0/8',
          dst_port: '8000:8080',
        },
        'rules.3',
      ),
    ).toEqual({
      action: 'drop',
      direction: 'in',
      ip_proto: 'tcp',
      src_ip: '!10.0.0.0/8',
      src_port: null,
      dst_ip: null,
      dst_port: '8000:8080',
      comment: null,
    });
    expect(
      point(() =>
        normalizeRule({ action: 'drop', direction: 'in', src_ip: '1.2.3.4.5' }, 'rules.3'),
      ),
    ).toBe('rules.3.src_ip');
    expect(
      point(() => normalizeRule({ action: 'drop', direction: 'in', src_ip: '::g' }, 'r')),
    ).toBe('r.src_ip');
    expect(
      point(() => normalizeRule({ action: 'drop', direction: 'in', src_port: '22' }, 'r')),
    ).toBe('r.src_port');
  });
});

describe('address pools and tag ranges', () => {
  it('reads CIDR and FIRST-LAST/PREFIX, with the gateway first', () => {
    const cidr = new AddressPool('198.51.100.0/24');
    expect([cidr.gateway, cidr.prefix, cidr.size]).toEqual(['198.51.100.1', 24, 253]);
    const range = new AddressPool('185.12.6.183-185.12.6.190/24');
    expect([range.gateway, range.size]).toEqual(['185.12.6.1', 8]);
    for (const bad of [
      '198.51.100.0',
      '198.51.100.0/31',
      '10.0.0.9-10.0.0.3/24',
      '10.0.0.5-10.0.1.5/24',
      '10.0.0.255-10.0.0.255/24',
    ]) {
      expect(() => new AddressPool(bad), bad).toThrow(/bad IP pool/);
    }
    expect(new TagRange('2-4094').last).toBe(4094);
    expect(() => new TagRange('10-5')).toThrow(/VLAN tag range/);
  });
});
