/** version — the sink's version, stamped into dead letters and logs. Kept in step with package.json by test/unit/version.test.ts. */
export const VERSION = '0.1.0';
