import { createRequire } from 'node:module';
import { ConfigError, DalError, setInstrumentation, type DalInstrumentation, type InstrumentedPool } from '@dal/core';
import type { Attributes, Span, SpanOptions, Tracer, TracerProvider } from '@opentelemetry/api';
import { dbSystemName } from './pool-source.js';
import { redactSql, summarizeSql } from './sql-summary.js';

/** What `registerOtelTracing` returns. */
export interface OtelTracingRegistration {
  /** Stop tracing: core's hook is removed, statements run untraced again. */
  unregister(): void;
}

/** Options of `registerOtelTracing`. */
export interface OtelTracingOptions {
  /** Tracer name (default '@dal/metrics'). */
  tracerName?: string;
}

type OtelApi = typeof import('@opentelemetry/api');

// OpenTelemetry's numeric enums, written out so that nothing of the API is loaded before registration.
const SPAN_KIND_INTERNAL = 0;
const SPAN_KIND_CLIENT = 2;
const STATUS_ERROR = 2;

let current: { provider: TracerProvider; hooks: DalInstrumentation; registration: OtelTracingRegistration } | undefined;

/**
 * Trace every statement of every pool with OpenTelemetry spans named and labelled by the database
 * client semantic conventions: one CLIENT span per statement (`db.system.name`, `db.namespace`,
 * `db.operation.name`, `db.collection.name` when the statement names one table,
 * `db.query.text` with literals redacted and never a parameter value, `server.address`,
 * `server.port`, `error.type`), an INTERNAL `acquire connection` span for an acquisition that
 * had to wait, and a `transaction` (or `savepoint`) span around `Connection.transaction`, whose
 * statements are its children. The slow-query log entry gets `trace_id`, `span_id` and
 * `trace_flags`. Spans are children of the span active at the call, so the process needs an
 * OpenTelemetry context manager (the Node SDK registers one).
 *
 * `@opentelemetry/api` is loaded by this call, not before. One tracer provider at a time: a
 * second provider replaces the first; the same one again returns the first registration.
 *
 * ```ts
 * const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
 * provider.register();
 * const tracing = registerOtelTracing(provider);
 * // ... later
 * tracing.unregister();
 * ```
 * @throws {ConfigError} when `@opentelemetry/api` is not installed.
 */
export function registerOtelTracing(tracerProvider: TracerProvider, options: OtelTracingOptions = {}): OtelTracingRegistration {
  if (current?.provider === tracerProvider) return current.registration;
  const api = loadApi();
  const tracer = tracerProvider.getTracer(options.tracerName ?? '@dal/metrics');
  const hooks = tracingHooks(api, tracer);
  const registration: OtelTracingRegistration = {
    unregister() {
      if (current?.hooks !== hooks) return;
      setInstrumentation(undefined);
      current = undefined;
    },
  };
  setInstrumentation(hooks);
  current = { provider: tracerProvider, hooks, registration };
  return registration;
}

function loadApi(): OtelApi {
  try {
    return createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch (error) {
    throw new ConfigError('registerOtelTracing: @opentelemetry/api is not installed; add it next to @dal/metrics (npm install @opentelemetry/api)', { cause: error });
  }
}

/** The attributes every span of a pool carries. */
function poolAttributes(pool: InstrumentedPool): Attributes {
  const attributes: Attributes = { 'db.system.name': dbSystemName(pool.dialect), 'db.namespace': pool.database, 'db.client.connection.pool.name': pool.alias };
  if (pool.host !== undefined) attributes['server.address'] = pool.host;
  if (pool.port !== undefined) attributes['server.port'] = pool.port;
  return attributes;
}

/** Mark a span failed with `error` (`error.type` is the error class, e.g. `QueryTimeoutError`). */
function fail(span: Span, error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  const attributes: Attributes = { 'error.type': name };
  if (DalError.isInstance(error)) {
    attributes['dal.error.code'] = error.code;
    const status = (error as { sqlState?: unknown }).sqlState ?? (error as { vendorCode?: unknown }).vendorCode;
    if (status !== undefined) attributes['db.response.status_code'] = String(status);
  }
  span.setAttributes(attributes);
  span.setStatus({ code: STATUS_ERROR, message: error instanceof Error ? error.message : String(error) });
  if (error instanceof Error) span.recordException(error);
}

function tracingHooks(api: OtelApi, tracer: Tracer): DalInstrumentation {
  /**
   * Run `work` with a new span active, ending it when `work` returns or, for a promise, settles.
   * The span is the active one while `work` runs, so its promise callbacks (where core records the
   * statement and writes the slow-query log) see it too.
   */
  function inSpan<T>(name: string, spanOptions: SpanOptions, work: () => T): T {
    const parent = api.context.active();
    const span = tracer.startSpan(name, spanOptions, parent);
    let result: T;
    try {
      result = api.context.with(api.trace.setSpan(parent, span), work);
    } catch (error) {
      fail(span, error);
      span.end();
      throw error;
    }
    if (!(result instanceof Promise)) {
      span.end();
      return result;
    }
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        fail(span, error);
        span.end();
        throw error;
      },
    ) as T;
  }

  return {
    statement(info, run) {
      const { operation, collection } = summarizeSql(info.sql);
      const attributes = poolAttributes(info.pool);
      if (operation !== undefined) attributes['db.operation.name'] = operation;
      if (collection !== undefined) attributes['db.collection.name'] = collection;
      attributes['db.query.text'] = redactSql(info.sql);
      if (info.tags !== undefined) for (const [key, value] of Object.entries(info.tags)) attributes[`dal.tag.${key}`] = value;
      // The conventions' span name: operation and target, else the operation, else the system.
      const name = operation === undefined ? String(attributes['db.system.name']) : collection === undefined ? operation : `${operation} ${collection}`;
      return inSpan(name, { kind: SPAN_KIND_CLIENT, attributes }, run);
    },
    acquisition(pool, run) {
      return inSpan('acquire connection', { kind: SPAN_KIND_INTERNAL, attributes: poolAttributes(pool) }, run);
    },
    transaction(info, run) {
      return inSpan(info.kind, { kind: SPAN_KIND_INTERNAL, attributes: poolAttributes(info.pool) }, run);
    },
    slowQueryFields() {
      const span = api.trace.getActiveSpan();
      if (span === undefined) return undefined;
      const { traceId, spanId, traceFlags } = span.spanContext();
      return { trace_id: traceId, span_id: spanId, trace_flags: `0${traceFlags.toString(16)}`.slice(-2) };
    },
  };
}
