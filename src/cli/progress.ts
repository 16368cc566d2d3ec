/**
 * Progress of long CLI work (export, import, seeding): a bar on a terminal, plain lines
 * otherwise (logs, CI). Both on stderr: stdout carries only results.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` of `total` units of `stage`. */
  update(stage: string, done: number, total: number): void;
  finish(): void;
}

export function progressReporter(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: '{stage} [{bar}] {value}/{total}', stream, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let current: string | undefined;
    return {
      update(stage, done, total) {
        if (stage !== current) {
          if (current !== undefined) bar.stop();
          bar.start(total, done, { stage });
          current = stage;
        } else bar.update(done, { stage });
      },
      finish() {
        if (current !== undefined) bar.stop();
      },
    };
  }
  // Plain lines: the first, every tenth and the last of each stage.
  let last = '';
  return {
    update(stage, done, total) {
      const step = Math.max(1, Math.ceil(total / 10));
      if (done === total || done % step === 0 || stage !== last) {
        stream.write(`${stage}: ${done}/${total}\n`);
        last = stage;
      }
    },
    finish() {},
  };
}
