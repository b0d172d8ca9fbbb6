/**
 * args — command-line flags through node:util `parseArgs`, with the errors
 * sluice's CLIs promise: a ConfigError naming the one flag that is wrong.
 *
 * Contract: `readFlags(args, spec, command)` returns each given flag's
 * values in order (a switch has one empty value per use), or 'help' when
 * `--help`, `-h` or `help` appears anywhere. It refuses, naming the flag:
 * an unknown flag ("unknown flag for "<command>""), a positional argument
 * ("unexpected argument"), a value flag without a value or followed by
 * another flag ("needs a value"), `--switch=x` ("takes no value"), and a
 * non-list flag given twice ("given more than once"). `flagHelp` prints a
 * spec's flags for `--help`. No I/O.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../errors.js';

/** `value`: one value; `list`: may repeat (values accumulate); `switch`: no value. */
export type FlagKind = 'value' | 'list' | 'switch';

export type FlagSpec = Readonly<Record<string, FlagKind>>;

export function readFlags(args: readonly string[], spec: FlagSpec, command: string): Map<string, string[]> | 'help' {
  if (args.some((a) => a === '--help' || a === '-h' || a === 'help')) return 'help';
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [flag, kind] of Object.entries(spec)) {
    options[flag.slice(2)] = { type: kind === 'switch' ? 'boolean' : 'string', multiple: true };
  }
  let tokens;
  try {
    // strict: false so that every problem comes back as a token we can name
    // the way the CLIs always have, instead of parseArgs' own wording.
    ({ tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true }));
  } catch (err) {
    throw new ConfigError('arguments', String(err));
  }
  const values = new Map<string, string[]>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'positional') throw new ConfigError(t.value, 'unexpected argument');
    if (t.kind === 'option-terminator') throw new ConfigError('--', 'unexpected argument');
    const flag = t.rawName.startsWith('--') ? `--${t.name}` : t.rawName;
    const kind = spec[flag];
    if (kind === undefined) throw new ConfigError(flag, `unknown flag for "${command}"`);
    let value = '';
    if (kind === 'switch') {
      if (t.inlineValue) throw new ConfigError(flag, 'takes no value');
    } else if (t.value !== undefined && t.value !== '' && (t.inlineValue || !t.value.startsWith('--'))) {
      value = t.value;
    } else if (t.value === undefined && tokens[i + 1]?.kind === 'positional') {
      // Non-strict parsing leaves a value that looks like a flag's own as a positional.
      value = (tokens[++i] as { value: string }).value;
    } else {
      throw new ConfigError(flag, 'needs a value');
    }
    if (kind !== 'list' && values.has(flag)) throw new ConfigError(flag, 'given more than once');
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  return values;
}
