/**
 * kafka-security — how sluice authenticates to and encrypts its Kafka
 * connections (TLS, SASL PLAIN / SCRAM), from environment variables.
 *
 * Contract: `kafkaSecurityFromEnv(env)` returns the validated security
 * settings or throws a ConfigError naming the one variable that is wrong;
 * `kafkaClientOptions(security)` turns them into kafkajs' `ssl`/`sasl`
 * options. The sink (config.ts), `sluice offsets` and `sluice replay` all
 * read the same variables through here, so one environment serves all three.
 * The SASL password is never part of an error message or a log line.
 */
import { readFileSync } from 'node:fs';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { ConfigError } from '../errors.js';

export type SecurityProtocol = 'plaintext' | 'ssl' | 'sasl_plaintext' | 'sasl_ssl';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaSecurity {
  readonly protocol: SecurityProtocol;
  /** PEM CA bundle to trust, when not the system's. */
  readonly caFile: string;
  readonly sasl: { readonly mechanism: SaslMechanism; readonly username: string; readonly password: string } | undefined;
}

export const KAFKA_SECURITY_SETTINGS: Readonly<Record<string, { default: string; doc: string }>> = {
  SLUICE_KAFKA_SECURITY_PROTOCOL: {
    default: 'plaintext',
    doc: '`plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` (as Kafka\'s security.protocol).',
  },
  SLUICE_KAFKA_SASL_MECHANISM: { default: 'plain', doc: '`plain`, `scram-sha-256` or `scram-sha-512` (with a `sasl_*` protocol).' },
  SLUICE_KAFKA_SASL_USERNAME: { default: '', doc: 'SASL user (required with a `sasl_*` protocol).' },
  SLUICE_KAFKA_SASL_PASSWORD: { default: '', doc: 'SASL password (required with a `sasl_*` protocol; never logged).' },
  SLUICE_KAFKA_SSL_CA_FILE: { default: '', doc: 'PEM file of the CA(s) to trust for TLS; unset: the system\'s CAs.' },
};

const PROTOCOLS: readonly SecurityProtocol[] = ['plaintext', 'ssl', 'sasl_plaintext', 'sasl_ssl'];
const MECHANISMS: readonly SaslMechanism[] = ['plain', 'scram-sha-256', 'scram-sha-512'];

export function kafkaSecurityFromEnv(env: NodeJS.ProcessEnv): KafkaSecurity {
  const get = (key: string) => (env[key]?.trim() ? env[key]!.trim() : KAFKA_SECURITY_SETTINGS[key]!.default);
  const protocol = get('SLUICE_KAFKA_SECURITY_PROTOCOL').toLowerCase() as SecurityProtocol;
  if (!PROTOCOLS.includes(protocol)) {
    throw new ConfigError('SLUICE_KAFKA_SECURITY_PROTOCOL', `must be one of ${PROTOCOLS.join(', ')}, got "${protocol}"`);
  }
  const caFile = get('SLUICE_KAFKA_SSL_CA_FILE');
  if (caFile !== '') {
    if (!protocol.endsWith('ssl')) throw new ConfigError('SLUICE_KAFKA_SSL_CA_FILE', `is set but SLUICE_KAFKA_SECURITY_PROTOCOL is ${protocol}`);
    readCa(caFile);
  }
  if (!protocol.startsWith('sasl')) return { protocol, caFile, sasl: undefined };
  const mechanism = get('SLUICE_KAFKA_SASL_MECHANISM').toLowerCase() as SaslMechanism;
  if (!MECHANISMS.includes(mechanism)) {
    throw new ConfigError('SLUICE_KAFKA_SASL_MECHANISM', `must be one of ${MECHANISMS.join(', ')}, got "${mechanism}"`);
  }
  const username = get('SLUICE_KAFKA_SASL_USERNAME');
  if (username === '') throw new ConfigError('SLUICE_KAFKA_SASL_USERNAME', `is required with SLUICE_KAFKA_SECURITY_PROTOCOL=${protocol}`);
  const password = env.SLUICE_KAFKA_SASL_PASSWORD ?? '';
  if (password === '') throw new ConfigError('SLUICE_KAFKA_SASL_PASSWORD', `is required with SLUICE_KAFKA_SECURITY_PROTOCOL=${protocol}`);
  return { protocol, caFile, sasl: { mechanism, username, password } };
}

export const PLAINTEXT: KafkaSecurity = { protocol: 'plaintext', caFile: '', sasl: undefined };

export function kafkaClientOptions(security: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (security.protocol.endsWith('ssl')) out.ssl = security.caFile ? { ca: [readCa(security.caFile)] } : true;
  if (security.sasl) out.sasl = { ...security.sasl } as SASLOptions;
  return out;
}

/** The security settings as they may be logged. */
export function redactedSecurity(security: KafkaSecurity): Record<string, unknown> {
  return { ...security, sasl: security.sasl ? { ...security.sasl, password: '***' } : undefined };
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('SLUICE_KAFKA_SSL_CA_FILE', `cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** One line for an authentication failure, naming the settings to check. */
export function isKafkaAuthError(err: unknown): boolean {
  const e = err as { type?: unknown; name?: unknown; message?: unknown; cause?: unknown } | null;
  if (!e) return false;
  if (e.type === 'SASL_AUTHENTICATION_FAILED' || e.name === 'KafkaJSSASLAuthenticationError') return true;
  if (typeof e.message === 'string' && /SASL|authenticat/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isKafkaAuthError(e.cause);
}
