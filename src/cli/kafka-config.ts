/**
 * `--kafka-config K=V[,K=V…]`: librdkafka properties for every Kafka client of the run, as Kafka
 * Streams takes consumer and producer configs. `consumer.K=V` and `producer.K=V` apply to those
 * clients only; a bare `K=V` to both. Riptide's settings come first, these win over them — except
 * the properties its guarantees rest on (group membership, offsets, transactions, isolation, the
 * rebalance protocol), which are refused naming the property and the option that sets it instead.
 */
import { UsageError } from "./args.js";
import { checkUserKafkaConfig, setUserKafkaConfig, type UserKafkaConfig } from "../io/kafka/rdkafka.js";

const MANAGED: Record<string, string> = {
  "bootstrap.servers": "--brokers", "metadata.broker.list": "--brokers", "group.id": "--group",
  "group.instance.id": "--guarantee exactly-once (static membership)", "enable.auto.commit": "Riptide's commits (offsets are committed when outputs are acknowledged)",
  "enable.auto.offset.store": "Riptide's commits", "auto.commit.enable": "Riptide's commits", "transactional.id": "--guarantee exactly-once",
  "isolation.level": "--guarantee exactly-once (read_committed)", "enable.idempotence": "Riptide's producers (idempotent, for ordered retries)",
  "partition.assignment.strategy": "Riptide's rebalance handling (eager: revoke, drain, commit, then assign)",
  "enable.partition.eof": "Riptide's source", "rebalance_cb": "Riptide's source", "offset_commit_cb": "Riptide's source", "dr_cb": "Riptide's producers",
  "dr_msg_cb": "Riptide's producers", "event_cb": "Riptide's error reporting",
};

/** Parses and checks the option (UsageError naming what is wrong), then sets it for the process's clients. */
export function applyKafkaConfig(value: string | boolean | undefined): UserKafkaConfig | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") throw new UsageError("--kafka-config needs KEY=VALUE[,KEY=VALUE…] (librdkafka properties; consumer.KEY / producer.KEY for one kind of client)");
  const c: UserKafkaConfig = { common: {}, consumer: {}, producer: {} };
  for (const item of value.split(",")) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--kafka-config: ${JSON.stringify(item)} is not KEY=VALUE`);
    let key = item.slice(0, eq).trim();
    const v = item.slice(eq + 1).trim();
    let into = c.common;
    if (key.startsWith("consumer.")) { into = c.consumer; key = key.slice(9); }
    else if (key.startsWith("producer.")) { into = c.producer; key = key.slice(9); }
    if (!/^[a-z][a-z0-9._]*$/.test(key)) throw new UsageError(`--kafka-config: ${JSON.stringify(key)} is not a librdkafka property name`);
    if (v === "") throw new UsageError(`--kafka-config: ${key} has no value`);
    const managed = MANAGED[key];
    if (managed) throw new UsageError(`--kafka-config: ${key} is set by ${managed}, not here`);
    into[key] = v;
  }
  const refused = checkUserKafkaConfig(c);
  if (refused) throw new UsageError(`--kafka-config: librdkafka refuses it: ${refused}`);
  setUserKafkaConfig(c);
  return c;
}
