/**
 * Option parsing and validation at the CLI boundary: every bad option gets a message naming it and
 * exit code 2 (UsageError).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  readonly code = "ERR_USAGE";
  readonly exitCode = 2;
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export function parse(argv: string[], options: OptionSpec): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  // A negative number after an option that takes a value is that value, not another option.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    const e = err as Error & { code?: string };
    const m = /'(-[^' ]+)/.exec(e.message);
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && m) throw new UsageError(`unknown option ${m[1]} (see --help)`);
    if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && m) throw new UsageError(`option ${m[1]} needs a value`);
    throw new UsageError(e.message);
  }
}

/** A number option: integer or not, within [min, max]; undefined when absent. */
export function numberOption(values: Record<string, unknown>, name: string, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(raw)}`);
  if (opts.integer && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got ${raw}`);
  if (opts.min !== undefined && v < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && v > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${raw}`);
  return v;
}

/**
 * --instance-id: state per input partition, so several processes of a group split the partitions
 * under exactly-once (each with its own id; a restarted one takes its id back). Undefined when absent.
 */
export function instanceIdOption(values: Record<string, unknown>, exactlyOnce: boolean): string | undefined {
  const id = values["instance-id"];
  if (id === undefined) return undefined;
  if (!exactlyOnce) throw new UsageError("--instance-id needs --guarantee exactly-once (at-least-once runs split partitions without it)");
  if (typeof id !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new UsageError(`--instance-id must be 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(id)}`);
  return id;
}
