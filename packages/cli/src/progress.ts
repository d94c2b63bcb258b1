/**
 * Progress of long work on stderr: a bar redrawn in place on a terminal (rows done, rate, ETA),
 * or one plain line every few seconds when stderr is a file or a pipe (CI logs, `2> log`).
 * Each phase and entity (export of `users`, import of `orders`, ...) is one segment, closed by a
 * summary line.
 */
import type { TransferProgress } from '@dal/entities';
import type { Output } from './output.js';

/** Default seconds between two progress lines when stderr is not a terminal. */
export const DEFAULT_PROGRESS_EVERY_S = 3;
/** How often the terminal bar is redrawn at most. */
const BAR_REDRAW_MS = 100;
const BAR_WIDTH = 24;

export interface ProgressOptions {
  /** Draw a bar in place (stderr is a terminal) or print lines. */
  readonly tty: boolean;
  /** Milliseconds between two lines when not on a terminal. */
  readonly everyMs: number;
  /** The clock (tests pass their own). */
  readonly now?: () => number;
}

interface Segment {
  readonly key: string;
  readonly label: string;
  readonly startedAt: number;
  rowsDone: number;
  rowsTotal: number | undefined;
}

/** Shows `TransferProgress` events; `finish()` closes the last segment, `abandon()` drops it after a failure. */
export class Progress {
  readonly #output: Output;
  readonly #options: ProgressOptions;
  readonly #now: () => number;
  #segment: Segment | undefined;
  #lastShownAt = 0;
  /** The bar is on screen and the cursor is at its end. */
  #barDrawn = false;

  constructor(output: Output, options: ProgressOptions) {
    this.#output = output;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The `onProgress` callback to hand to the entity functions. */
  readonly update = (event: TransferProgress): void => {
    const now = this.#now();
    const key = `${event.phase}\u0000${event.entity ?? ''}`;
    let segment = this.#segment;
    // A new phase or entity, or a count that went back (a new pass over the same entity).
    if (segment === undefined || segment.key !== key || event.rowsDone < segment.rowsDone) {
      this.finish();
      segment = this.#segment = { key, label: event.entity === undefined ? event.phase : `${event.phase} ${event.entity}`, startedAt: now, rowsDone: 0, rowsTotal: undefined };
      this.#lastShownAt = now;
    }
    segment.rowsDone = event.rowsDone;
    segment.rowsTotal = event.rowsTotal;
    if (this.#options.tty) {
      if (now - this.#lastShownAt >= BAR_REDRAW_MS || !this.#barDrawn) this.#drawBar(segment, now);
    } else if (now - this.#lastShownAt >= this.#options.everyMs) {
      this.#output.note(`progress ${describe(segment, now)}`);
      this.#lastShownAt = now;
    }
  };

  /** Close the current segment with its summary line. */
  finish(): void {
    const segment = this.#segment;
    if (segment === undefined) return;
    this.#segment = undefined;
    const now = this.#now();
    if (this.#options.tty) {
      this.#drawBar(segment, now);
      this.#output.noteRaw('\n');
      this.#barDrawn = false;
    } else {
      this.#output.note(`done ${segment.label}: ${count(segment.rowsDone)} rows in ${duration((now - segment.startedAt) / 1000)}`);
    }
  }

  /** End after a failure: the bar's line is ended, and no summary claims the segment was done. */
  abandon(): void {
    this.#segment = undefined;
    if (!this.#barDrawn) return;
    this.#output.noteRaw('\n');
    this.#barDrawn = false;
  }

  #drawBar(segment: Segment, now: number): void {
    const { rowsDone, rowsTotal } = segment;
    const fraction = rowsTotal === undefined || rowsTotal <= 0 ? undefined : Math.min(1, rowsDone / rowsTotal);
    const filled = fraction === undefined ? 0 : Math.round(fraction * BAR_WIDTH);
    const bar = fraction === undefined ? '' : `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] `;
    // \r and "erase to end of line": the bar overwrites itself.
    this.#output.noteRaw(`\r\u001b[K${bar}${describe(segment, now)}`);
    this.#barDrawn = true;
    this.#lastShownAt = now;
  }
}

/** `export users: 45,000/100,000 rows (45%), 12,345 rows/s, ETA 4s` */
function describe(segment: Segment, now: number): string {
  const { rowsDone, rowsTotal } = segment;
  const seconds = (now - segment.startedAt) / 1000;
  const rate = seconds > 0 ? rowsDone / seconds : undefined;
  const parts = [rowsTotal === undefined ? `${count(rowsDone)} rows` : `${count(rowsDone)}/${count(rowsTotal)} rows (${percent(rowsDone, rowsTotal)})`];
  if (rate !== undefined) parts.push(`${count(Math.round(rate))} rows/s`);
  if (rate !== undefined && rate > 0 && rowsTotal !== undefined && rowsTotal > rowsDone) parts.push(`ETA ${duration((rowsTotal - rowsDone) / rate)}`);
  return `${segment.label}: ${parts.join(', ')}`;
}

function percent(done: number, total: number): string {
  return total <= 0 ? '100%' : `${Math.min(100, Math.floor((done / total) * 100))}%`;
}

/** 12,345 */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** 4s, 2m05s, 1h02m */
function duration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
