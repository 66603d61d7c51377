import { listApps } from '../ai/apps.ts';
import type { KeelConfig } from '../config/schema.ts';
import type { EvalService } from '../eval/service.ts';
import type { MonitoringService } from '../gateway/services.ts';
import type { Db } from '../store/db.ts';
import { TelemetryHub } from './hub.ts';
import { createMetrics, type KeelMetrics } from './metrics.ts';
import { OtlpTraceExporter } from './otel.ts';
import { type Retention, startRetention } from './retention.ts';
import type { TelemetrySink } from './types.ts';

/** `gen_ai.system` values of Keel's provider kinds (OpenTelemetry GenAI semantic conventions). */
const GEN_AI_SYSTEM: Record<string, string> = {
  'openai-compatible': 'openai',
  'azure-openai': 'azure.ai.openai',
  anthropic: 'anthropic',
  extractive: 'keel',
  'llama-cpp': 'llama.cpp',
};

export interface Monitoring {
  hub: TelemetryHub;
  metrics: KeelMetrics;
  otlp: OtlpTraceExporter | undefined;
  retention: Retention;
  /** What the gateway's monitoring routes use. */
  service: MonitoringService;
  close(): Promise<void>;
}

/**
 * Wires telemetry for one Keel process from `config.telemetry`: the Prometheus registry, the hub
 * every finished trace goes through, the store sink (unless traces are off), OTLP export when an
 * endpoint is set, and trace retention.
 */
export function createMonitoring(opts: {
  config: KeelConfig;
  db: Db;
  /** The store sink; its `stats.written` lets retention vacuum PGlite as traces accumulate. */
  store: TelemetrySink & { readonly stats?: { written: number } };
  evals: EvalService;
  log?: ((message: string, error: unknown) => void) | undefined;
}): Monitoring {
  const { config } = opts;
  const t = config.telemetry;
  const metrics = createMetrics({ apps: listApps(config).map((a) => a.name) });
  const otlp = t.otlp
    ? new OtlpTraceExporter({
        endpoint: t.otlp.endpoint,
        headers: t.otlp.headers,
        batchSize: t.otlp.batchSize,
        flushIntervalMs: t.otlp.flushIntervalMs,
        timeoutMs: t.otlp.timeoutMs,
        serviceName: t.otlp.serviceName,
        systemOf: (id) => GEN_AI_SYSTEM[config.providers[id]?.type ?? ''],
        onError: (e, lost) => opts.log?.(`OTLP export failed; ${lost} traces lost`, e),
      })
    : undefined;
  const hub = new TelemetryHub({
    store: t.traces ? opts.store : undefined,
    exporters: otlp ? [otlp] : [],
    metrics,
    captureInput: t.captureInput,
  });
  const retention = startRetention(opts.db, {
    retentionDays: t.traces ? t.retentionDays : 0,
    written: t.traces && opts.store.stats ? () => opts.store.stats?.written ?? 0 : undefined,
    onError: (e) => opts.log?.('trace retention failed', e),
  });
  return {
    hub,
    metrics,
    otlp,
    retention,
    service: {
      metrics,
      metricsToken: t.metricsToken,
      flushTraces: () => hub.flush(),
      observePending: () => hub.drain(),
      evals: opts.evals,
    },
    async close() {
      await retention.stop();
      await hub.close();
    },
  };
}
