/**
 * The progress display on a terminal (a bar redrawn in place) and in a log (a line every few
 * seconds), with a clock the test moves: wall time cannot be produced on demand.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../src/output.js';
import { Progress } from '../src/progress.js';

function capture(isTTY: boolean): { stream: Writable & { isTTY: boolean }; text(): string } {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    }),
    { isTTY },
  );
  return { stream, text: () => text };
}

describe('progress', () => {
  it('on a terminal: a bar with rows, rate and ETA, redrawn in place, closed by a newline', () => {
    const err = capture(true);
    let now = 0;
    const progress = new Progress(new Output(capture(false).stream, err.stream), { tty: true, everyMs: 3_000, now: () => now });
    progress.update({ phase: 'import', entity: 'users', rowsDone: 0, rowsTotal: 1_000 });
    now = 2_000;
    progress.update({ phase: 'import', entity: 'users', rowsDone: 500, rowsTotal: 1_000 });
    now = 2_050; // within the redraw interval: not drawn
    progress.update({ phase: 'import', entity: 'users', rowsDone: 510, rowsTotal: 1_000 });
    now = 4_000;
    progress.finish();
    const frames = err.text().split('\r\u001b[K');
    expect(frames[2]).toBe('[############------------] import users: 500/1,000 rows (50%), 250 rows/s, ETA 2.0s');
    expect(frames).toHaveLength(4);
    expect(frames[3]).toBe('[############------------] import users: 510/1,000 rows (51%), 128 rows/s, ETA 3.8s\n');
  });

  it('in a log: one line per interval, a summary per phase and entity, no control characters', () => {
    const err = capture(false);
    let now = 0;
    const progress = new Progress(new Output(capture(false).stream, err.stream), { tty: false, everyMs: 3_000, now: () => now });
    for (let rows = 0; rows <= 10_000; rows += 1_000) {
      progress.update({ phase: 'export', entity: 'orders', rowsDone: rows, rowsTotal: 10_000 });
      now += 1_000;
    }
    progress.update({ phase: 'verify', rowsDone: 0 });
    now += 500;
    progress.finish();
    expect(err.text()).toBe(
      [
        'progress export orders: 3,000/10,000 rows (30%), 1,000 rows/s, ETA 7.0s',
        'progress export orders: 6,000/10,000 rows (60%), 1,000 rows/s, ETA 4.0s',
        'progress export orders: 9,000/10,000 rows (90%), 1,000 rows/s, ETA 1.0s',
        'done export orders: 10,000 rows in 11s',
        'done verify: 0 rows in 0.5s',
        '',
      ].join('\n'),
    );
  });

  it('after a failure, abandon() ends the bar line and prints no summary', () => {
    for (const tty of [true, false]) {
      const err = capture(tty);
      let now = 0;
      const progress = new Progress(new Output(capture(false).stream, err.stream), { tty, everyMs: 3_000, now: () => now });
      progress.update({ phase: 'import', entity: 'users', rowsDone: 0, rowsTotal: 1_000 });
      now = 500;
      progress.update({ phase: 'import', entity: 'users', rowsDone: 200, rowsTotal: 1_000 });
      const before = err.text();
      progress.abandon();
      progress.abandon();
      expect(err.text()).toBe(tty ? `${before}\n` : '');
    }
  });
});
