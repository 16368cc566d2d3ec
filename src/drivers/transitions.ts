/**
 * How long the simulated hypervisor and storage take for each transition, in clock milliseconds.
 * `--transitions PRESET[,name=ms...]`, e.g. `default`, `instant`, `default,start=5000`.
 */
export interface Transitions {
  /** stopped -> starting -> running */
  start: number;
  /** running -> stopping -> stopped (hard stop) */
  stop: number;
  /** How long a guest that handles ACPI takes to power off after the button is pressed. */
  shutdown: number;
  /** creating -> unmounted */
  create: number;
  /** resizing -> previous status */
  resize: number;
  /** cloning_src / cloning_dst -> previous status / unmounted (also a clone of a snapshot) */
  clone: number;
  /** A snapshot: creating -> available */
  snapshot: number;
}

export const TRANSITION_NAMES = [
  'start',
  'stop',
  'shutdown',
  'create',
  'resize',
  'clone',
  'snapshot',
] as const;

export const TRANSITION_PRESETS: Record<string, Transitions> = {
  /** Like a small real cloud: every transitional status is visible for 1-3 s. */
  default: {
    start: 2000,
    stop: 1500,
    shutdown: 1500,
    create: 1500,
    resize: 2000,
    clone: 3000,
    snapshot: 1000,
  },
  /** For tests that only care about end states. */
  instant: { start: 0, stop: 0, shutdown: 0, create: 0, resize: 0, clone: 0, snapshot: 0 },
  fast: {
    start: 200,
    stop: 150,
    shutdown: 150,
    create: 150,
    resize: 200,
    clone: 300,
    snapshot: 100,
  },
  slow: {
    start: 8000,
    stop: 5000,
    shutdown: 5000,
    create: 5000,
    resize: 6000,
    clone: 12000,
    snapshot: 4000,
  },
};

export class TransitionsError extends Error {}

export function parseTransitions(text: string): Transitions {
  const [preset = 'default', ...overrides] = text.split(',').map((part) => part.trim());
  const base = TRANSITION_PRESETS[preset];
  if (!base) {
    throw new TransitionsError(
      `unknown transitions preset "${preset}" (presets: ${Object.keys(TRANSITION_PRESETS).join(', ')})`,
    );
  }
  const out: Transitions = { ...base };
  for (const override of overrides) {
    const match = /^([a-z]+)=(\d+)$/.exec(override);
    const name = match?.[1] as keyof Transitions | undefined;
    if (!match || !name || !(TRANSITION_NAMES as readonly string[]).includes(name)) {
      throw new TransitionsError(
        `bad transition "${override}": expected NAME=MILLISECONDS with NAME one of ${TRANSITION_NAMES.join(', ')}`,
      );
    }
    out[name] = Number(match[2]);
  }
  return out;
}
