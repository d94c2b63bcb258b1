/**
 * What a command is (its options, help and run function) and how its arguments are parsed:
 * `util.parseArgs` from Node itself, so the CLI adds no parser dependency.
 */
import { parseArgs } from 'node:util';
import type { Output } from './output.js';
import type { Progress } from './progress.js';
import type { Database } from '@dal/core';

/** Wrong arguments: the CLI prints the message and the command's usage, and exits with 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: CommandSpec,
  ) {
    super(message);
  }
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder of a string option's value in the help, e.g. `file`. */
  readonly value?: string;
  /** May be given several times. */
  readonly multiple?: boolean;
  readonly description: string;
}

export type OptionValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** What a running command gets. */
export interface CommandContext {
  readonly output: Output;
  /** Cancelled by Ctrl-C: long work stops and rolls back its current batch. */
  readonly signal: AbortSignal;
  /** A Database for a URL, closed when the command ends. */
  open(url: string): Database;
  /** Progress display for long work, or undefined with `--quiet`. */
  progress(values: OptionValues): Progress | undefined;
}

export interface CommandSpec {
  /** As typed: `export`, `migrate plan`. */
  readonly name: string;
  /** One line for `dal --help`. */
  readonly summary: string;
  /** `dal export <url> [-o file] ...` */
  readonly usage: string;
  /** Paragraphs after the usage line in `dal <command> --help`. */
  readonly description: string;
  /** Names of the positional arguments, in order. */
  readonly positionals: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** Exit code: 0 on success. */
  run(positionals: string[], values: OptionValues, context: CommandContext): Promise<number>;
}

const HELP_OPTION: Readonly<Record<string, OptionSpec>> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

/**
 * Parse a command's arguments.
 * @throws {UsageError} for an unknown option, a missing value, or a wrong number of positionals.
 */
export function parseCommand(spec: CommandSpec, args: readonly string[]): { positionals: string[]; values: OptionValues; help: boolean } {
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, ...HELP_OPTION }).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short === undefined ? {} : { short: o.short }), ...(o.multiple === true ? { multiple: true } : {}) },
    ]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs's first sentence names the option and what is wrong with it; the rest is advice
    // about '--' that does not fit a CLI whose positionals never start with '-'.
    throw new UsageError((error as Error).message.split(/\.\s/)[0] ?? 'invalid arguments', spec);
  }
  const values = parsed.values as OptionValues;
  const help = values['help'] === true;
  if (!help) {
    if (parsed.positionals.length < spec.positionals.length) {
      throw new UsageError(`missing ${spec.positionals.slice(parsed.positionals.length).map((p) => `<${p}>`).join(' ')}`, spec);
    }
    if (parsed.positionals.length > spec.positionals.length) {
      throw new UsageError(`unexpected argument "${parsed.positionals[spec.positionals.length]}"`, spec);
    }
  }
  return { positionals: parsed.positionals, values, help };
}

/** `dal <command> --help` */
export function commandHelp(spec: CommandSpec): string {
  const all = { ...spec.options, ...HELP_OPTION };
  const flags = Object.entries(all).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` <${o.value}>`}`;
    return [flag, o.description + (o.multiple === true ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(...flags.map(([flag]) => flag.length));
  return [
    `Usage: ${spec.usage}`,
    '',
    spec.description,
    '',
    'Options:',
    ...flags.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    '',
    'Examples:',
    ...spec.examples.map((example) => `  ${example}`),
    '',
  ].join('\n');
}

/** A comma-separated list option (`--entities a,b`), or undefined when not given. */
export function listOption(values: OptionValues, name: string): string[] | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const items = String(raw)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new UsageError(`--${name} needs at least one name`);
  return items;
}

/** A string option restricted to `choices`, or undefined when not given. */
export function choiceOption<T extends string>(values: OptionValues, name: string, choices: readonly T[]): T | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(String(raw))) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${String(raw)}"`);
  return raw as T;
}

/** A positive number option (seconds, ...), or undefined when not given. */
export function numberOption(values: OptionValues, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${String(raw)}"`);
  return n;
}

/** Options of every command that moves rows. */
export const PROGRESS_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  quiet: { type: 'boolean', short: 'q', description: 'no progress display' },
  'progress-every': { type: 'string', value: 'seconds', description: 'seconds between progress lines when stderr is not a terminal (default 3)' },
};

/** What an import does with a row the target already holds with other data. */
export const ON_CONFLICT = ['fail', 'skip', 'replace'] as const;

/** The option choosing it, shared by import and copy. */
export const CONFLICT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'on-conflict': { type: 'string', value: ON_CONFLICT.join('|'), description: 'what to do with rows the target already holds with other data (default fail)' },
};

/** Options choosing what to move, shared by export and copy. */
export const SELECTION_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  entities: { type: 'string', value: 'a,b', description: 'only these entities (default: all)' },
  'no-history': { type: 'boolean', description: 'leave out the history tables' },
};
