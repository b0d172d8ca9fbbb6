/**
 * format-settings — the SLUICE_FORMAT and Schema Registry settings: their
 * README rows (spread into config.ts SETTINGS) and their validation.
 *
 * Contract: `formatOptionsFromEnv(env, typed)` returns the FormatOptions
 * record-format.ts builds from, or throws a ConfigError naming the one
 * variable that is wrong: an unknown format; avro or jsonschema without
 * a registry URL; protobuf with neither a registry nor a descriptor and
 * message; a binary format with SLUICE_INSERT_FORMAT=jsoneachrow (the
 * server cannot parse Avro or Protobuf); a malformed URL; a CA file or a
 * descriptor that does not exist. `redactedFormat` hides the password.
 */
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { FORMAT_NAMES, type FormatName, type FormatOptions } from './record-format.js';

export const FORMAT_SETTINGS: Readonly<Record<string, { default: string; doc: string }>> = {
  SLUICE_FORMAT: { default: 'json', doc: 'What record values are: `json`, or through a Confluent-compatible Schema Registry `avro`, `protobuf` (also without a registry, see SLUICE_PROTOBUF_DESCRIPTOR) or `jsonschema`. See "Formats and Schema Registry".' },
  SLUICE_SCHEMA_REGISTRY_URL: { default: '', doc: 'Base URL of the Confluent Schema Registry API (for Apicurio: `…/apis/ccompat/v7`). Required for `avro` and `jsonschema`.' },
  SLUICE_SCHEMA_REGISTRY_USER: { default: '', doc: 'Basic-auth user for the registry.' },
  SLUICE_SCHEMA_REGISTRY_PASSWORD: { default: '', doc: 'Basic-auth password for the registry (never logged).' },
  SLUICE_SCHEMA_REGISTRY_CA_FILE: { default: '', doc: 'PEM file of the CA(s) to trust for an https:// registry URL; unset: the system\'s CAs.' },
  SLUICE_PROTOBUF_DESCRIPTOR: { default: '', doc: 'Protobuf without a registry: a descriptor set file (`protoc --descriptor_set_out`) or comma-separated `.proto` files. Needs SLUICE_PROTOBUF_MESSAGE.' },
  SLUICE_PROTOBUF_MESSAGE: { default: '', doc: 'Full name of the Protobuf message every record is (e.g. `shop.v1.Order`), with SLUICE_PROTOBUF_DESCRIPTOR.' },
};

export function formatOptionsFromEnv(env: NodeJS.ProcessEnv, typed: boolean): FormatOptions {
  const get = (key: string) => (env[key]?.trim() ? env[key]!.trim() : FORMAT_SETTINGS[key]!.default);
  const format = get('SLUICE_FORMAT') as FormatName;
  if (!FORMAT_NAMES.includes(format)) throw new ConfigError('SLUICE_FORMAT', `must be one of ${FORMAT_NAMES.join(', ')}, got "${format}"`);
  const url = get('SLUICE_SCHEMA_REGISTRY_URL');
  const files = get('SLUICE_PROTOBUF_DESCRIPTOR').split(',').map((f) => f.trim()).filter((f) => f !== '');
  const message = get('SLUICE_PROTOBUF_MESSAGE');
  if (format === 'json') return { format, registry: undefined, protobufFiles: [], protobufMessage: undefined };
  if (!typed) throw new ConfigError('SLUICE_INSERT_FORMAT', `jsoneachrow forwards record bytes to the server, which cannot read SLUICE_FORMAT=${format}: use rowbinary`);
  if ((files.length > 0) !== (message !== '')) {
    throw new ConfigError(files.length > 0 ? 'SLUICE_PROTOBUF_MESSAGE' : 'SLUICE_PROTOBUF_DESCRIPTOR', 'SLUICE_PROTOBUF_DESCRIPTOR and SLUICE_PROTOBUF_MESSAGE go together');
  }
  if (files.length > 0 && format !== 'protobuf') throw new ConfigError('SLUICE_PROTOBUF_DESCRIPTOR', `is for SLUICE_FORMAT=protobuf, not ${format}`);
  for (const f of files) if (!existsSync(f)) throw new ConfigError('SLUICE_PROTOBUF_DESCRIPTOR', `${f} does not exist`);
  if (files.length > 0) return { format, registry: undefined, protobufFiles: files, protobufMessage: message };
  if (url === '') throw new ConfigError('SLUICE_SCHEMA_REGISTRY_URL', `is required with SLUICE_FORMAT=${format}${format === 'protobuf' ? ' (or SLUICE_PROTOBUF_DESCRIPTOR and SLUICE_PROTOBUF_MESSAGE)' : ''}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('SLUICE_SCHEMA_REGISTRY_URL', 'is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError('SLUICE_SCHEMA_REGISTRY_URL', 'must be http:// or https://');
  if (parsed.username || parsed.password) throw new ConfigError('SLUICE_SCHEMA_REGISTRY_URL', 'must not carry credentials: use SLUICE_SCHEMA_REGISTRY_USER and _PASSWORD');
  const caFile = get('SLUICE_SCHEMA_REGISTRY_CA_FILE');
  if (caFile !== '' && !existsSync(caFile)) throw new ConfigError('SLUICE_SCHEMA_REGISTRY_CA_FILE', `${caFile} does not exist`);
  const user = get('SLUICE_SCHEMA_REGISTRY_USER');
  return {
    format,
    registry: { url, user: user || undefined, password: get('SLUICE_SCHEMA_REGISTRY_PASSWORD') || undefined, caFile: caFile || undefined },
    protobufFiles: [],
    protobufMessage: undefined,
  };
}

export function redactedFormat(f: FormatOptions): FormatOptions {
  return f.registry?.password ? { ...f, registry: { ...f.registry, password: '***' } } : f;
}
