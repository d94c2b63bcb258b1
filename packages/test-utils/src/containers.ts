import { DEFAULT_MYSQL_URL, DEFAULT_PG_URL, waitUntilAnswers } from './servers.js';

/**
 * Where the test servers come from. A server that answers at its URL is used; when nothing answers
 * at the default URL and a container runtime (Docker, Podman, ...) is available, `testcontainers`
 * starts one. This machine (and CI) has no container runtime and uses its local servers.
 */

/** The servers the tests use. MySQL 8 is optional: no local one exists, so nothing requires it. */
export type TestServerKind = 'postgres' | 'mariadb' | 'mysql8';

export interface TestServerSpec {
  kind: TestServerKind;
  /** The environment variable that names its URL, and that the tests read. */
  envVar: string;
  /** The URL used when the variable is unset; undefined when there is no local default. */
  defaultUrl: string | undefined;
  /** The image testcontainers starts when nothing answers. */
  image: string;
  /** Whether `npm test` needs it (a missing required server fails the run, never skips it). */
  required: boolean;
}

export const TEST_SERVERS: readonly TestServerSpec[] = [
  { kind: 'postgres', envVar: 'DAL_PG_URL', defaultUrl: DEFAULT_PG_URL, image: 'postgres:16', required: true },
  { kind: 'mariadb', envVar: 'DAL_MYSQL_URL', defaultUrl: DEFAULT_MYSQL_URL, image: 'mariadb:10.11', required: true },
  { kind: 'mysql8', envVar: 'DAL_MYSQL8_URL', defaultUrl: undefined, image: 'mysql:8.4', required: false },
];

/** Which path was chosen for one server, and why (printed before the tests run). */
export type TestServerChoice =
  | { spec: TestServerSpec; source: 'server'; url: string; reason: string }
  | { spec: TestServerSpec; source: 'container'; reason: string }
  | { spec: TestServerSpec; source: 'none'; reason: string };

export interface ChooseOptions {
  /** The environment to read the URL variables from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The servers to choose for (default `TEST_SERVERS`). */
  servers?: readonly TestServerSpec[];
  /** Whether a URL answers a real query (default: `SELECT 1` through psql / mariadb within 3 s). */
  answers?: (url: string) => Promise<boolean>;
  /** A description of the available container runtime, or undefined (default `detectContainerRuntime`). */
  containerRuntime?: () => Promise<string | undefined>;
}

const PROBE_TIMEOUT_MS = 3_000;
const RUNTIME_PROBE_TIMEOUT_MS = 15_000;

async function answersQuery(url: string): Promise<boolean> {
  try {
    await waitUntilAnswers(url, PROBE_TIMEOUT_MS);
    return true;
  } catch {
    return false;
  }
}

/**
 * Choose, for each server: the server at its URL when one answers; a container when nothing answers
 * at the *default* URL and a container runtime is available; else none. A URL set explicitly is
 * never replaced by a container: it names the server the user wants tested, so one that does not
 * answer is an error to report, not to paper over.
 */
export async function chooseTestServers(options: ChooseOptions = {}): Promise<TestServerChoice[]> {
  const env = options.env ?? process.env;
  const answers = options.answers ?? answersQuery;
  const runtimeOf = options.containerRuntime ?? detectContainerRuntime;
  // Asked at most once, and only when some server needs it: the probe costs seconds without Docker.
  let runtime: Promise<string | undefined> | undefined;
  const choices: TestServerChoice[] = [];
  for (const spec of options.servers ?? TEST_SERVERS) {
    const fromEnv = env[spec.envVar];
    const url = fromEnv ?? spec.defaultUrl;
    const where = fromEnv !== undefined ? `${spec.envVar}=${redact(url!)}` : `the default ${url === undefined ? '' : redact(url)}`.trim();
    if (url !== undefined && (await answers(url))) {
      choices.push({ spec, source: 'server', url, reason: `a server answers at ${where}` });
      continue;
    }
    if (fromEnv !== undefined) {
      choices.push({ spec, source: 'none', reason: `nothing answers at ${where}; a URL you set is never replaced by a container` });
      continue;
    }
    const nothingHere = spec.defaultUrl === undefined ? `${spec.envVar} is unset and there is no local default` : `nothing answers at ${where}`;
    runtime ??= runtimeOf();
    const found = await runtime;
    if (found !== undefined) {
      choices.push({ spec, source: 'container', reason: `${nothingHere}; starting ${spec.image} with testcontainers on ${found}` });
    } else {
      choices.push({ spec, source: 'none', reason: `${nothingHere}; no container runtime was found either (start the local server, run docker compose up -d --wait, or set ${spec.envVar})` });
    }
  }
  return choices;
}

/**
 * The container runtime testcontainers would use (its own detection: DOCKER_HOST,
 * ~/.testcontainers.properties, the Docker socket, rootless sockets), or undefined when none
 * answers within 15 s. testcontainers is only loaded here, never when the servers answer.
 */
export async function detectContainerRuntime(): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), RUNTIME_PROBE_TIMEOUT_MS);
  });
  const probe = (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      const client = await getContainerRuntimeClient();
      const info = client.info.containerRuntime;
      return `${info.operatingSystem} at ${info.host}`;
    } catch {
      return undefined;
    }
  })();
  try {
    return await Promise.race([probe, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface StartedTestServers {
  /** The URL variables the tests read, for every server that has one. */
  env: Record<string, string>;
  /** Stop the containers this started (servers found at their URL are left alone). */
  stop(): Promise<void>;
}

/**
 * Start a container for each choice that asks for one, as root with database `test` like the local
 * servers. Resolves with the URL variables to run the tests with.
 * @throws {Error} when a container does not start (the ones already started are stopped).
 */
export async function startTestServers(choices: readonly TestServerChoice[]): Promise<StartedTestServers> {
  const env: Record<string, string> = {};
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    await Promise.allSettled(stops.map((s) => s()));
  };
  try {
    for (const choice of choices) {
      if (choice.source === 'server') env[choice.spec.envVar] = choice.url;
      if (choice.source !== 'container') continue;
      const started = await startContainer(choice.spec);
      stops.push(() => started.stop());
      env[choice.spec.envVar] = started.url;
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { env, stop };
}

async function startContainer(spec: TestServerSpec): Promise<{ url: string; stop(): Promise<unknown> }> {
  if (spec.kind === 'postgres') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    // trust, like the local server the default URL names: no password in URLs or logs.
    const container = await new PostgreSqlContainer(spec.image).withDatabase('test').withUsername('postgres').withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' }).start();
    return { url: `postgres://postgres@${container.getHost()}:${container.getPort()}/test`, stop: () => container.stop() };
  }
  const { MariaDbContainer } = await import('@testcontainers/mariadb');
  const { MySqlContainer } = await import('@testcontainers/mysql');
  const container = await (spec.kind === 'mariadb' ? new MariaDbContainer(spec.image) : new MySqlContainer(spec.image)).withDatabase('test').withRootPassword('dal').start();
  return { url: `mysql://root:dal@${container.getHost()}:${container.getPort()}/test`, stop: () => container.stop() };
}

/** The choices as lines to print: which path, for which server, and why. */
export function describeChoices(choices: readonly TestServerChoice[]): string[] {
  return choices.map((c) => `${c.source === 'none' ? (c.spec.required ? '✗' : '-') : '✓'} ${c.spec.kind}: ${c.source} (${c.reason})`);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
