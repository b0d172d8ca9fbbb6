/**
 * chdb — a current ClickHouse engine (26.x) in-process, for the tests of the
 * modern-server side (the local server is Debian's 18.16).
 *
 * chdb lives outside the project's dependencies: scripts/test.sh installs it
 * into .local/chdb, because its lock entries for platforms npm cannot
 * resolve here make `npm ci` refuse the project's lockfile.
 */
import { createRequire } from 'node:module';

export interface ChdbSession {
  query(sql: string, format?: string): string;
  cleanup(): void;
}

const CHDB = new URL('../.local/chdb/node_modules/chdb', import.meta.url).pathname;

export function loadChdb(): { Session: new () => ChdbSession } {
  try {
    return createRequire(import.meta.url)(CHDB) as { Session: new () => ChdbSession };
  } catch (err) {
    throw new Error(`chdb is not installed at ${CHDB}: run scripts/test.sh (npm test), which installs it (${String(err)})`);
  }
}
