/**
 * redact — what may be shown of text that came from outside: URLs without
 * their credentials, and strangers' text (dead-letter headers, server
 * messages) without control characters.
 *
 * Contract: pure, no I/O, never throws.
 *  - `redactUrl(raw)` returns `scheme://host[:port]/path` of a URL, with the
 *    query string and fragment dropped. A password may contain `/ @ : % # ?`,
 *    which moves where any parser or pattern thinks the host starts
 *    (http://u:p@ss/w@h parses as host `ss`, path `/w@h`), so a string
 *    holding an `@` anywhere, or one that does not parse and holds `?` or
 *    `#`, shows its scheme only (`http://…`); an unparsable string without
 *    them has no credentials and is shown whole.
 *  - `redactUserinfo(item)` masks everything up to the last `@` of a
 *    host:port item (a broker address someone wrote as user:pass@host:port),
 *    and all of it when what follows that `@` is not a plain host:port.
 *  - `plainText(s, max)` removes terminal escape sequences (ESC/CSI/OSC, C1),
 *    every other C0/C1 control character and bidirectional overrides, turns
 *    line breaks and tabs into spaces, and cuts the result to `max`
 *    characters (with `…`): safe to print on a terminal, one line.
 *  - `errorTag(err)` is `code=… class=…` for a failure: an identifier and
 *    the SluiceError kind, never the error's text (which may quote rows,
 *    URLs or server internals). Status endpoints show this; logs the rest.
 */

export function redactUrl(raw: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]{0,15}):\/\//.exec(raw.trim());
  // The parser reads http://u:p@ss/w@h as user u, password p, host ss, path
  // /w@h: with an @ anywhere, even the host and path may be the password's.
  if (raw.includes('@')) return scheme ? `${scheme[1]}://…` : '…';
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // Without @ ? # there is no user:password@ and no query to hide.
    if (!/[?#]/.test(raw)) return plainText(raw.trim(), 200);
    return scheme ? `${scheme[1]}://…` : '…';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${url.protocol}//…`;
  // host keeps the port; path without query or fragment (a password could sit in ?password=).
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.protocol}//${url.host}${path}`;
}

export function redactUserinfo(item: string): string {
  const at = item.lastIndexOf('@');
  if (at < 0) return item;
  const rest = item.slice(at + 1);
  // Only a plausible host:port is shown; anything else may be the password's tail.
  return /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(rest) ? `***@${rest}` : '***';
}

// ESC followed by: CSI (`[` params final), OSC/DCS/SOS/PM/APC (up to BEL or
// ST), or any single character (two-character sequences such as ESC c).
const ESCAPES = /\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|.?)|\x9b[0-?]*[ -/]*[@-~]?|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?/gs;
// What is left of C0, DEL, C1, and the bidi controls (which reorder what a terminal shows).
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const BREAKS = /[\t\n\r\u2028\u2029]+/g;

export function plainText(s: string, max = 200): string {
  const clean = s.replace(ESCAPES, '').replace(CONTROLS, '').replace(BREAKS, ' ');
  return clean.length <= max ? clean : clean.slice(0, max - 1) + '…';
}

const TOKEN = /^[A-Za-z][A-Za-z0-9_]{0,63}$|^\d{1,6}$/;

/**
 * `code=60 class=fatal`: what kind of failure, in words no server or record
 * chose. The code is the first of, along the cause chain: a numeric
 * ClickHouse code, a Kafka error type (MESSAGE_TOO_LARGE), a Node error code
 * (ECONNREFUSED), the error's class name; `none` when there is nothing that
 * looks like an identifier. The class is the SluiceError kind, else `unknown`.
 */
export function errorTag(err: unknown): string {
  let code: string | undefined;
  let kind: string | undefined;
  const names: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== null && typeof e === 'object' && depth < 6; depth++) {
    const o = e as { code?: unknown; type?: unknown; kind?: unknown; name?: unknown; cause?: unknown; originalError?: unknown };
    if (kind === undefined && typeof o.kind === 'string' && ['config', 'transient', 'data', 'fatal'].includes(o.kind)) kind = o.kind;
    // kafkajs: type MESSAGE_TOO_LARGE says more than code 10; ClickHouse: code 60 is the known name.
    const kafkajs = typeof o.name === 'string' && o.name.startsWith('KafkaJS');
    for (const c of kafkajs ? [o.type, o.code] : [o.code, o.type]) {
      if (code === undefined && (typeof c === 'number' || typeof c === 'string') && TOKEN.test(String(c))) code = String(c);
    }
    if (typeof o.name === 'string' && TOKEN.test(o.name) && o.name !== 'Error') names.push(o.name);
    e = o.originalError ?? o.cause;
  }
  code ??= names.find((n) => !['SluiceError', 'ClickHouseError'].includes(n)) ?? 'none';
  return `code=${code} class=${kind ?? 'unknown'}`;
}
