export { prometheusText, createPrometheusRegistry, registerDalMetrics, PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
export type { MetricRegistry } from './prometheus.js';
export { registerOtelMetrics } from './otel.js';
export type { OtelRegistration, OtelMetricsOptions } from './otel.js';
export { serveDashboard, dashboardSnapshot } from './dashboard.js';
export type { Dashboard, DashboardOptions, DashboardPool } from './dashboard.js';
export { dbSystemName } from './pool-source.js';
export type { PoolView } from './pool-source.js';
