/**
 * What may be shown of outside text (src/ops/redact.ts): URLs without
 * credentials whatever the password holds, header text without terminal
 * escapes, and errors reduced to `code=… class=…`.
 */
import { describe, expect, it } from 'vitest';
import { ClickHouseError, SluiceError } from '../../../src/errors.js';
import { errorTag, plainText, redactUrl, redactUserinfo } from '../../../src/ops/redact.js';

const PASSWORD = 'p@ss/w:rd%40#x';
const DECODED = 'p@ss/w:rd@#x';

describe('redactUrl', () => {
  it('keeps scheme, host, port and path; drops credentials, query and fragment', () => {
    expect(redactUrl('https://ch.internal:8443/proxy/')).toBe('https://ch.internal:8443/proxy/');
    expect(redactUrl('http://127.0.0.1:8123')).toBe('http://127.0.0.1:8123');
    expect(redactUrl('http://ch:8123/?password=secret#frag')).toBe('http://ch:8123');
    // With an @ anywhere, even what parses as the host may be part of the password.
    expect(redactUrl('http://writer:secret@ch:8123')).toBe('http://…');
  });

  it.each([
    `http://writer:${PASSWORD}@ch:8123`,
    `http://writer:${PASSWORD}@ch host:8123`,
    `http://writer:${PASSWORD}@ch:99999`,
    `http://${PASSWORD}@ch:8123`,
    `writer:${PASSWORD}@ch:8123`,
    `http://ch:8123/?user=w&password=${encodeURIComponent(PASSWORD)}`,
    `http://ch:8123/?password=${PASSWORD}`,
    `http://ch :8123/?password=${PASSWORD}`,
  ])('never echoes any part of a password holding / @ : # ?: %s', (url) => {
    const shown = redactUrl(url);
    for (const part of [PASSWORD, DECODED, 'rd%40', 'w:rd', 'ss/w', '#x']) expect(shown).not.toContain(part);
  });

  it('shows an unparsable string whole only when it cannot hold credentials', () => {
    expect(redactUrl('not a url')).toBe('not a url');
    expect(redactUrl('http://a b@c')).toBe('http://…');
  });
});

describe('redactUserinfo', () => {
  it('masks up to the last @ of a broker address, and all of it when the rest is not host:port', () => {
    expect(redactUserinfo('k1:9092')).toBe('k1:9092');
    expect(redactUserinfo(`u:${PASSWORD}@k1:9092`)).toBe('***@k1:9092');
    expect(redactUserinfo(`u:${PASSWORD}`)).toBe('***');
  });
});

describe('plainText', () => {
  it.each<[string, string, string]>([
    ['CSI colours', 'tbl\x1b[31mRED\x1b[0m', 'tblRED'],
    ['cursor and erase', 'a\x1b[2J\x1b[1;1Hb\x1b[K', 'ab'],
    ['OSC title with BEL', '\x1b]0;pwned\x07events', 'events'],
    ['OSC 8 hyperlink with ST', '\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\', 'click'],
    ['8-bit CSI (C1)', 'x\x9b31my', 'xy'],
    ['two-character ESC sequence (RIS)', 'a\x1bcb', 'ab'],
    ['other C0, DEL, C1', 'a\x00b\x07c\x7fd\x85e', 'abcde'],
    ['bidi override (Trojan Source)', 'evil\u202etxt.exe', 'eviltxt.exe'],
    ['line breaks and tabs become spaces', 'a\r\nb\tc\u2028d', 'a b c d'],
    ['plain text stays', 'events_2024 — ünïcode ✓', 'events_2024 — ünïcode ✓'],
  ])('%s', (_name, input, out) => {
    expect(plainText(input)).toBe(out);
  });

  it('leaves no ESC, C0 or C1 character whatever the input', () => {
    let all = '';
    for (let c = 0; c < 0x100; c++) all += String.fromCharCode(c) + 'x';
    expect(plainText(all, 10_000)).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  it('cuts to the limit with an ellipsis', () => {
    expect(plainText('a'.repeat(50), 10)).toBe('a'.repeat(9) + '…');
  });
});

describe('errorTag', () => {
  it('a ClickHouse error: its code and class, not its text', () => {
    const err = new ClickHouseError('data', 'Code: 27, Cannot parse input: 078-05-1120 4111 1111 1111 1111 (at row 1)', 27, 1);
    expect(errorTag(err)).toBe('code=27 class=data');
  });

  it('a connection failure: the Node error code from the cause', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:8123'), { code: 'ECONNREFUSED' });
    expect(errorTag(new ClickHouseError('transient', cause.message, undefined, undefined, { cause }))).toBe('code=ECONNREFUSED class=transient');
  });

  it('a kafkajs protocol error: its type, and the kind given by sluice', () => {
    const cause = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), {
      name: 'KafkaJSProtocolError',
      type: 'MESSAGE_TOO_LARGE',
      code: 10,
      retriable: false,
    });
    expect(errorTag(new SluiceError('fatal', cause.message, { cause }))).toBe('code=MESSAGE_TOO_LARGE class=fatal');
  });

  it('anything else: its class name, or none; never text that is not an identifier', () => {
    expect(errorTag(new TypeError('x is undefined'))).toBe('code=TypeError class=unknown');
    expect(errorTag('a string with a secret')).toBe('code=none class=unknown');
    expect(errorTag(Object.assign(new Error('m'), { code: 'Code: 27, row 078-05-1120' }))).toBe('code=none class=unknown');
  });
});
