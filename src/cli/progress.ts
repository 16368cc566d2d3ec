/**
 * Progress of long CLI work (export, import, seeding): a bar on a terminal, plain lines
 * otherwise (logs, CI). Both on stderr: stdout carries only results.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` of `total` units of `stage`. */
  update(stage: string, done: number, total: number): void;
  /** Ends the bar under way (idempotent); call it on every path, errors included. */
  finish(): void;
}

export interface ProgressOptions {
  /** What is counted, shown after the numbers (`rows`). */
  unit?: string;
}

/** Lines per stage in plain mode, besides the first and the last. */
const PLAIN_STEPS = 10;

export function progressReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  options: ProgressOptions = {},
): Progress {
  const unit = options.unit ? ` ${options.unit}` : '';
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `{stage} [{bar}] {value}/{total}${unit}`,
        stream,
        barsize: 30,
        // Nothing that a process killed mid-bar would leave behind: no hidden cursor, no
        // line wrapping turned off (the line is cut to the terminal's width instead).
        hideCursor: false,
        linewrap: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let current: string | undefined;
    return {
      update(stage, done, total) {
        if (stage !== current) {
          if (current !== undefined) bar.stop();
          bar.start(total, done, { stage });
          current = stage;
        } else {
          bar.setTotal(total);
          bar.update(done, { stage });
        }
      },
      finish() {
        if (current !== undefined) bar.stop();
        current = undefined;
      },
    };
  }
  // Plain lines: the first of each stage, one each time another tenth is done, and the last.
  let stage: string | undefined;
  let printed = -1;
  return {
    update(next, done, total) {
      const step = Math.max(1, Math.ceil(total / PLAIN_STEPS));
      const fresh = next !== stage;
      if (fresh || (done !== printed && (done === total || done >= printed + step))) {
        stream.write(`${next}: ${done}/${total}${unit}\n`);
        stage = next;
        printed = done;
      }
    },
    finish() {
      stage = undefined;
      printed = -1;
    },
  };
}
