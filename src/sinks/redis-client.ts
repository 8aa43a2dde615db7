/**
 * The Redis client behind the Redis sinks: one small interface (a pipeline of commands, one write
 * and one round trip per call) so that another client can replace ioredis. Main thread only, at the
 * sink edge; nothing here runs per event.
 */
import { Redis } from "ioredis";
import { RiptideError } from "../errors.js";

export type RedisCommand = ReadonlyArray<string | number>;

export interface RedisClient {
  /**
   * Sends `commands` as one pipeline and resolves with their replies in order once Redis has
   * answered all of them; rejects with the first command error (or a connection failure).
   */
  pipeline(commands: readonly RedisCommand[]): Promise<unknown[]>;
  /** Closes the connection after pending replies. */
  quit(): Promise<void>;
}

export class RedisSinkError extends RiptideError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_REDIS", message, {}, options);
  }
}

/**
 * Validates a Redis URL given to `option` (`redis://[user:password@]host[:port][/db]` or `rediss://`
 * for TLS) and returns it normalised. Throws a RangeError naming the option otherwise.
 */
export function parseRedisUrl(raw: string, option = "--redis"): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RangeError(`${option} must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new RangeError(`${option} must use redis:// or rediss://, got ${JSON.stringify(raw)}`);
  }
  if (url.hostname === "") throw new RangeError(`${option} needs a host, got ${JSON.stringify(raw)}`);
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) throw new RangeError(`${option}: the database after the host must be a number, got ${JSON.stringify(db)}`);
  if (url.search !== "" || url.hash !== "") throw new RangeError(`${option} takes no query or fragment, got ${JSON.stringify(raw)}`);
  return url.toString();
}

/** Connects to Redis (ioredis) and checks the connection with a PING; rejects with a clear error. */
export async function connectRedis(url: string, options: { connectTimeoutMs?: number } = {}): Promise<RedisClient> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    // Writes wait in ioredis' offline queue across a reconnect; a write that still fails after
    // these retries fails the run (its offsets are never committed, so nothing is lost).
    maxRetriesPerRequest: 5,
  });
  client.on("error", () => undefined); // surfaced through the failing command instead
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new RedisSinkError(`cannot connect to Redis at ${redact(url)}: ${(err as Error).message}`, { cause: err });
  }
  return {
    async pipeline(commands) {
      // ioredis looks commands up by their lower-case method name.
      const replies = await client.pipeline(commands.map((c) => [String(c[0]).toLowerCase(), ...c.slice(1).map(String)])).exec();
      if (replies === null) throw new RedisSinkError("the Redis pipeline was discarded");
      const out: unknown[] = [];
      for (const [err, reply] of replies) {
        if (err) throw new RedisSinkError(`Redis refused a command: ${err.message}`, { cause: err });
        out.push(reply);
      }
      return out;
    },
    async quit() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
