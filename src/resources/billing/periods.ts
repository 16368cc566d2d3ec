/**
 * Subscription time (subscriptions.rst): free-form periods (`1 month`, `2 months 1 week`), noon
 * rounding (an end is rounded up to the next noon UTC; a start to the later of now and the
 * previous noon) and the renderings CloudSigma uses (ISO times, Python's timedelta text).
 */

export interface Period {
  months: number;
  ms: number;
}

const UNITS: Record<string, { months?: number; ms?: number }> = {
  year: { months: 12 },
  month: { months: 1 },
  week: { ms: 7 * 86_400_000 },
  day: { ms: 86_400_000 },
  hour: { ms: 3_600_000 },
  minute: { ms: 60_000 },
  second: { ms: 1000 },
};

const PART = /(\d+)\s*([a-z]+)/g;

/** Reads `N unit [N unit...]` (years, months, weeks, days, hours, minutes, seconds); undefined if not. */
export function parsePeriod(text: string): Period | undefined {
  const source = text.trim().toLowerCase().replaceAll(',', ' ');
  if (source === '') return undefined;
  let months = 0;
  let ms = 0;
  let consumed = '';
  for (const match of source.matchAll(PART)) {
    const word = match[2]!.replace(/s$/, '');
    const unit = UNITS[word];
    if (!unit) return undefined;
    const n = Number(match[1]);
    months += n * (unit.months ?? 0);
    ms += n * (unit.ms ?? 0);
    consumed += match[0];
  }
  if (consumed.replaceAll(/\s/g, '') !== source.replaceAll(/\s/g, '')) return undefined;
  if (months === 0 && ms === 0) return undefined;
  return { months, ms };
}

/** `time` plus (or, with `sign` -1, minus) a period; months are calendar months, clamped. */
export function addPeriod(time: number, period: Period, sign: 1 | -1 = 1): number {
  const date = new Date(time);
  if (period.months !== 0) {
    const day = date.getUTCDate();
    date.setUTCDate(1);
    date.setUTCMonth(date.getUTCMonth() + sign * period.months);
    const last = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    date.setUTCDate(Math.min(day, last));
  }
  return date.getTime() + sign * period.ms;
}

const DAY = 86_400_000;
const NOON = 12 * 3_600_000;

/** The first noon UTC at or after `time`. */
export function nextNoon(time: number): number {
  const noon = Math.floor(time / DAY) * DAY + NOON;
  return noon >= time ? noon : noon + DAY;
}

/** The last noon UTC at or before `time`. */
export function previousNoon(time: number): number {
  const noon = Math.floor(time / DAY) * DAY + NOON;
  return noon <= time ? noon : noon - DAY;
}

/** `2013-03-22T10:28:06+00:00`, with microseconds when there is a fraction (as Django writes). */
export function isoTime(time: number): string {
  const iso = new Date(time).toISOString();
  const ms = time % 1000;
  return `${iso.slice(0, 19)}${ms === 0 ? '' : `.${String(ms).padStart(3, '0')}000`}+00:00`;
}

/** Python's `str(timedelta)`: `31 days, 1:31:53.888650`, `366 days, 0:00:00`, `1 day, 2:00:00`. */
export function timedeltaText(ms: number): string {
  const days = Math.floor(ms / DAY);
  let rest = ms - days * DAY;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  const clock = `${hours}:${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}${
    millis === 0 ? '' : `.${String(millis).padStart(3, '0')}000`
  }`;
  if (days === 0) return clock;
  return `${days} day${days === 1 ? '' : 's'}, ${clock}`;
}

/** An ISO 8601 time as clients send it; undefined if it is not one. */
export function parseTime(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) {
    return undefined;
  }
  // Without an offset the time is UTC (all subscription times are).
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) || text.length === 10 ? text : `${text}Z`;
  const time = Date.parse(withZone.replace(' ', 'T'));
  return Number.isNaN(time) ? undefined : time;
}
