/**
 * server — /metrics, /healthz and /readyz over plain HTTP, shaped for
 * Kubernetes probes.
 *
 * Contract: `/healthz` is 200 while the sink's event loop turns (the
 * pipeline ticker ran recently) — a failing liveness probe means "restart
 * me". `/readyz` is 200 only when the group is joined, ClickHouse answered
 * recently, and no partition has been unable to write for longer than
 * SLUICE_READY_STALL_MS — a failing readiness probe means "look at me"; the
 * body says why, as JSON. Nothing here changes the sink's state.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthReport {
  readonly ok: boolean;
  readonly reasons: readonly string[];
}

export interface HealthSource {
  live(): HealthReport;
  ready(): HealthReport;
}

export interface StatusServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startStatusServer(port: number, registry: Registry, health: HealthSource, host = '0.0.0.0'): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        (err: unknown) => send(500, 'text/plain', String(err) + '\n'),
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const report = path === '/healthz' ? health.live() : health.ready();
      return send(report.ok ? 200 : 503, 'application/json', JSON.stringify({ status: report.ok ? 'ok' : 'unavailable', reasons: report.reasons }) + '\n');
    }
    send(404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
