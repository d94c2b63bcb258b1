/**
 * Everything the CLI prints goes through here, so that no password reaches the terminal: URLs
 * lose their password, and the password of every URL the user gave is masked wherever it shows.
 */

import type { Writable } from 'node:stream';

/** A stream the CLI writes to: process.stdout / process.stderr, or a test's stand-in. */
export type OutputStream = Writable & { readonly isTTY?: boolean };

const MASK = '***';
// scheme://user:password@host: the password part, for URLs the CLI never saw (a driver's message).
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):([^\s/@]*)@/gi;

export class Output {
  readonly #secrets = new Set<string>();

  constructor(
    readonly stdout: OutputStream,
    readonly stderr: OutputStream,
  ) {}

  /** Mask the password of `url` (as written and URL-decoded) in everything printed from now on. */
  protectUrl(url: string): void {
    const password = /^[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:([^\s/@]*)@/i.exec(url)?.[1];
    if (password === undefined || password === '') return;
    this.#secrets.add(password);
    try {
      this.#secrets.add(decodeURIComponent(password));
    } catch {
      // not valid percent-encoding: the raw form is masked already
    }
  }

  /** `text` with URL passwords and every protected password masked. */
  redact(text: string): string {
    let out = text.replace(URL_PASSWORD, `$1:${MASK}@`);
    // Longest first, so that a password containing another is masked whole.
    for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(MASK);
    return out;
  }

  /** Fixed text holding no user input (help), on stdout as it is. */
  text(text: string): void {
    this.stdout.write(text);
  }

  /** One line of results on stdout. */
  line(text = ''): void {
    this.stdout.write(`${this.redact(text)}\n`);
  }

  /** One line of diagnostics (progress, summaries, errors) on stderr. */
  note(text: string): void {
    this.stderr.write(`${this.redact(text)}\n`);
  }

  /** Raw text on stderr (the progress bar redraws its line), redacted. */
  noteRaw(text: string): void {
    this.stderr.write(this.redact(text));
  }
}
