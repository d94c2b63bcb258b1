/**
 * The logging interface core writes to: structured data first, then the message, the order
 * pino uses. `console` and pino fit as they are; wrap others in a line.
 *
 * ```ts
 * const db = DatabaseFactory.createDatabase('postgres', config, { logger: pino() });
 * ```
 */
export interface Logger {
  debug?(data: Record<string, unknown>, message: string): void;
  info?(data: Record<string, unknown>, message: string): void;
  warn?(data: Record<string, unknown>, message: string): void;
  error?(data: Record<string, unknown>, message: string): void;
}

/** Default logger: warnings and errors to the console, nothing else. */
export const consoleLogger: Logger = {
  warn: (data, message) => console.warn(message, data),
  error: (data, message) => console.error(message, data),
};
