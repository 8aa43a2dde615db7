/**
 * One root error with a stable `code`, a subclass per failure, and the context we know
 * (worker, partition, offset). Messages say what to do, not only what broke.
 */
export interface ErrorContext {
  worker?: number;
  partition?: number;
  offset?: number;
  option?: string;
}

export class RiptideError extends Error {
  readonly code: string;
  readonly context: ErrorContext;
  constructor(code: string, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

/** A wait for a peer thread ran past its limit (the peer is stalled or dead). */
export class RingStalledError extends RiptideError {
  constructor(message: string, context: ErrorContext = {}) {
    super("ERR_RING_STALLED", message, context);
  }
}

/** A record layout or schema is malformed. */
export class SchemaError extends RiptideError {
  constructor(message: string, context: ErrorContext = {}) {
    super("ERR_SCHEMA", message, context);
  }
}

/** A user-facing option has the wrong type (CLI and public API boundary). */
export class OptionTypeError extends TypeError {
  readonly code = "ERR_INVALID_OPTION_TYPE";
  constructor(readonly option: string, message: string) {
    super(message);
    this.name = "OptionTypeError";
  }
}

/** A user-facing option has a value out of its range. */
export class OptionRangeError extends RangeError {
  readonly code = "ERR_INVALID_OPTION_VALUE";
  constructor(readonly option: string, message: string) {
    super(message);
    this.name = "OptionRangeError";
  }
}

/** A worker thread died or its shard task failed. */
export class WorkerFailedError extends RiptideError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super("ERR_WORKER_FAILED", message, context, { cause });
  }
}

/** Input that cannot be decoded (goes to the dead-letter output, never crashes the process). */
export class DecodeError extends RiptideError {
  constructor(message: string, context: ErrorContext = {}) {
    super("ERR_DECODE", message, context);
  }
}
