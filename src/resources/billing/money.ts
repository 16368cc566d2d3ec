/**
 * Money as CloudSigma shows it: decimal strings (`"0.21000000000000000000"`). Kept exact as
 * fixed-point integers with 20 decimal places, never as floating point.
 */

export const PLACES = 20;
const SCALE = 10n ** BigInt(PLACES);

/** A decimal amount, scaled by 10^20. */
export type Money = bigint;

const DECIMAL = /^\s*([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?\s*$/;

/** Reads a decimal string or number (`"10000.00"`, `"0E-20"`, `1.5`); rounds beyond 20 places. */
export function money(value: string | number | bigint): Money {
  if (typeof value === 'bigint') return value * SCALE;
  const text = typeof value === 'number' ? String(value) : value;
  const match = DECIMAL.exec(text);
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) {
    throw new Error(`not a decimal number: "${text}"`);
  }
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  let digits = BigInt(`${whole || '0'}${fraction}`);
  let scale = fraction.length - Number(exponent);
  // digits * 10^-scale, brought to 10^-PLACES.
  if (scale <= PLACES) {
    digits *= 10n ** BigInt(PLACES - scale);
  } else {
    scale -= PLACES;
    const divisor = 10n ** BigInt(scale);
    digits = (digits + divisor / 2n) / divisor;
  }
  return sign === '-' ? -digits : digits;
}

/** `places` decimal places (20 by default, as CloudSigma prints prices). */
export function formatMoney(value: Money, places = PLACES): string {
  const negative = value < 0n;
  let abs = negative ? -value : value;
  if (places < PLACES) {
    const divisor = 10n ** BigInt(PLACES - places);
    abs = (abs + divisor / 2n) / divisor;
  }
  const text = abs.toString().padStart(places + 1, '0');
  const whole = text.slice(0, text.length - places);
  const fraction = text.slice(text.length - places);
  return `${negative && abs !== 0n ? '-' : ''}${whole}${places > 0 ? `.${fraction}` : ''}`;
}

/** a * b / c, rounded half up (every factor a Money or a plain integer as noted by the caller). */
export function mulDiv(a: bigint, b: bigint, c: bigint): bigint {
  const product = a * b;
  const half = c / 2n;
  return product >= 0n ? (product + half) / c : (product - half) / c;
}

/** Money times a Money fraction (a discount rate). */
export function times(value: Money, rate: Money): Money {
  return mulDiv(value, rate, SCALE);
}

export const ONE: Money = SCALE;
export const ZERO: Money = 0n;
