import { RiptideError } from "../errors.js";

/** A state store exceeded its bound. */
export class StateStoreFullError extends RiptideError {
  constructor(store: string, limit: number) {
    super("ERR_STATE_FULL", `state store ${store} reached its bound of ${limit} entries; raise maxStoreEntries, shorten windows/retention, or add workers`);
  }
}

/** A topology that cannot run as built. */
export class TopologyError extends RiptideError {
  constructor(message: string) {
    super("ERR_TOPOLOGY", message);
  }
}
