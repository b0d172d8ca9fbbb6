import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatOptionsFromEnv, redactedFormat } from '../../../src/formats/format-settings.js';

describe('SLUICE_FORMAT settings', () => {
  it('json by default, needing nothing else', () => {
    expect(formatOptionsFromEnv({}, true)).toEqual({ format: 'json', registry: undefined, protobufFiles: [], protobufMessage: undefined });
  });

  it('a registry format needs a registry URL, and names the setting', () => {
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'avro' }, true)).toThrow(/SLUICE_SCHEMA_REGISTRY_URL: is required with SLUICE_FORMAT=avro/);
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'protobuf' }, true)).toThrow(/or SLUICE_PROTOBUF_DESCRIPTOR/);
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'xml' }, true)).toThrow(/SLUICE_FORMAT: must be one of json, avro, protobuf, jsonschema/);
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: 'ftp://x' }, true)).toThrow(/http/);
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: 'http://u:p@x' }, true)).toThrow(/must not carry credentials/);
  });

  it('binary formats need typed rows (the server cannot parse them)', () => {
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: 'http://r' }, false)).toThrow(/SLUICE_INSERT_FORMAT/);
  });

  it('registry credentials are kept and redacted for the log', () => {
    const f = formatOptionsFromEnv({ SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: 'https://r/apis/ccompat/v7', SLUICE_SCHEMA_REGISTRY_USER: 'u', SLUICE_SCHEMA_REGISTRY_PASSWORD: 's3cret' }, true);
    expect(f.registry).toEqual({ url: 'https://r/apis/ccompat/v7', user: 'u', password: 's3cret', caFile: undefined });
    expect(JSON.stringify(redactedFormat(f))).not.toContain('s3cret');
  });

  it('Protobuf without a registry: descriptor and message go together, and the files must exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-fs-'));
    const file = join(dir, 'a.proto');
    writeFileSync(file, 'syntax = "proto3"; message A { int32 x = 1; }');
    expect(formatOptionsFromEnv({ SLUICE_FORMAT: 'protobuf', SLUICE_PROTOBUF_DESCRIPTOR: file, SLUICE_PROTOBUF_MESSAGE: 'A' }, true)).toEqual({ format: 'protobuf', registry: undefined, protobufFiles: [file], protobufMessage: 'A' });
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'protobuf', SLUICE_PROTOBUF_DESCRIPTOR: file }, true)).toThrow(/SLUICE_PROTOBUF_MESSAGE/);
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'protobuf', SLUICE_PROTOBUF_DESCRIPTOR: join(dir, 'nope.desc'), SLUICE_PROTOBUF_MESSAGE: 'A' }, true)).toThrow(/does not exist/);
    expect(() => formatOptionsFromEnv({ SLUICE_FORMAT: 'avro', SLUICE_PROTOBUF_DESCRIPTOR: file, SLUICE_PROTOBUF_MESSAGE: 'A' }, true)).toThrow(/is for SLUICE_FORMAT=protobuf/);
  });
});
