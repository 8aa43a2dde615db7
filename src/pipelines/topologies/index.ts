/**
 * Pipelines written on the DSL (topology modules the shard workers import), by name: what
 * `riptide run <name>` runs on the worker engine in its general form (src/dsl/engine-objects.ts),
 * with their embedded generators (./data.ts).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { driverLocation, message, rideRequest, userProfile, userView } from "./data.js";
import { topics as rideTopics } from "./ride-matching.js";
import { topics as messageTopics } from "./message-enrichment.js";
import { topics as paymentTopics } from "./payments.js";
import { topics as viewTopics } from "./content-views.js";
import { topics as chatTopics } from "./chat-sessions.js";
import { PaymentGenerator, type PaymentColumns } from "../../sources/payment-generator.js";

export interface GeneratedTopic {
  /** Events of the topic in a run of `events` events. */
  count: number;
  /** Event i of the topic. */
  make(i: number): unknown;
  /** The field holding the key (the Kafka message key: topics joined by it are co-partitioned). */
  key: string;
  /** The field holding event time (none for a table). */
  time?: string;
  /** make() can only go forward (0, 1, 2, …, each once). */
  sequential?: boolean;
}

export interface DslPipeline {
  name: string;
  description: string;
  /** The built topology module (JavaScript: the workers import it). */
  module: string;
  /** Input topics with their generated events; `users` is --drivers (drivers or users). */
  generate(prefix: string, events: number, seed: number, users: number | undefined): Record<string, GeneratedTopic>;
  /** Topics written, given the prefix. */
  outputs(prefix: string): string[];
}

/** The built module next to this file (from the TypeScript sources under vitest: dist/). */
function builtModule(name: string): string {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith(".ts")) return join(dirname(here), `${name}.js`);
  const root = join(dirname(here), "..", "..", "..");
  return join(root, "dist", "src", "pipelines", "topologies", `${name}.js`); // workers need the build: `npm run build`
}

export const DSL_PIPELINES: readonly DslPipeline[] = [
  {
    name: "ride-matching",
    description: "ride requests × available drivers of the region within 1 minute, pickup ≤ 1 km (DSL stream-stream join, seed §7)",
    module: builtModule("ride-matching"),
    generate(prefix, events, seed, drivers = 2_000) {
      const t = rideTopics(prefix);
      const requests = Math.floor(events / 5);
      return {
        [t.requests]: { count: requests, make: (j) => rideRequest(seed, drivers, j), key: "region", time: "ts" },
        [t.locations]: { count: events - requests, make: (i) => driverLocation(seed, drivers, i), key: "region", time: "ts" },
      };
    },
    outputs: (prefix) => [rideTopics(prefix).matches, `${rideTopics(prefix).matches}.late`],
  },
  {
    name: "message-enrichment",
    description: "messages enriched with the sender's profile from the user-profiles table (DSL stream-table join, seed §7)",
    module: builtModule("message-enrichment"),
    generate(prefix, events, seed, users = 5_000) {
      const t = messageTopics(prefix);
      return {
        [t.profiles]: { count: users, make: (k) => userProfile(seed, k), key: "userId" },
        [t.messages]: { count: events, make: (i) => message(seed, users, i), key: "senderId", time: "ts" },
      };
    },
    outputs: (prefix) => [messageTopics(prefix).enriched],
  },
  {
    name: "payments-dsl",
    description: "payments written on the DSL: the same validation, balances and decisions as payments, as a KTable aggregate per user (exactly-once on Kafka with --guarantee exactly-once)",
    module: builtModule("payments"),
    generate(prefix, events, seed, users = 2_000) {
      // The payments generator's stream with one partition: `riptide run payments --partitions 1` reads the same events in the same order.
      const gen = new PaymentGenerator({ seed, users, partitions: 1 });
      const cols: PaymentColumns = { paymentId: new Float64Array(1), userId: new Float64Array(1), amount: new Float64Array(1), ts: new Float64Array(1) };
      return {
        [paymentTopics(prefix).payments]: {
          count: events, key: "userId", time: "ts", sequential: true,
          make: () => {
            gen.fill(0, cols, 0, 1);
            return gen.toEvent(cols, 0);
          },
        },
      };
    },
    outputs: (prefix) => [paymentTopics(prefix).confirmations, paymentTopics(prefix).balances, paymentTopics(prefix).invalid],
  },
  {
    name: "content-views",
    description: "views per content in 5-minute windows: views keyed by user, grouped by content (DSL repartition + tumbling aggregate, seed §1)",
    module: builtModule("content-views"),
    generate(prefix, events, seed, users = 20_000) {
      return { [viewTopics(prefix).views]: { count: events, make: (i) => userView(seed, users, i), key: "userId", time: "ts" } };
    },
    outputs: (prefix) => [viewTopics(prefix).counts, `${viewTopics(prefix).counts}.late`],
  },
  {
    name: "chat-sessions",
    description: "conversation sessions per chat, 30-minute inactivity gap: messages keyed by sender, grouped by chat (DSL repartition + session windows)",
    module: builtModule("chat-sessions"),
    generate(prefix, events, seed, users = 5_000) {
      return { [chatTopics(prefix).messages]: { count: events, make: (i) => message(seed, users, i), key: "senderId", time: "ts" } };
    },
    outputs: (prefix) => [chatTopics(prefix).sessions, `${chatTopics(prefix).sessions}.late`],
  },
];

export function getDslPipeline(name: string): DslPipeline | undefined {
  return DSL_PIPELINES.find((p) => p.name === name);
}
