/**
 * The seed's operation names (seed §2–§4 YAML) and the built-in pipeline step each one is. Every
 * step listed here always runs in its pipeline's kernels, except where `optional` says what turns
 * it on: a file that leaves out a required operation is refused rather than run as if it were gone.
 */

export type PipelineKind = "stream_pipeline" | "location_pipeline" | "message_pipeline";

export interface Operation {
  /** The built-in pipelines that run this step. */
  readonly pipelines: readonly string[];
  /** What the step is, in Riptide's terms (for messages and the README). */
  readonly step: string;
  /** stream_pipeline: the processor type it belongs in. */
  readonly processorType?: "tumbling-window" | "stream-processor";
  /** Only when this is set may the operation be left out; it says what depends on it. */
  readonly optional?: string;
}

export const OPERATIONS: Readonly<Record<PipelineKind, Readonly<Record<string, Operation>>>> = {
  // engagement-analytics (src/pipelines/engagement/spec.ts)
  stream_pipeline: {
    count_by_content_id: { pipelines: ["engagement-analytics"], processorType: "tumbling-window", step: "views per contentId in each window" },
    sum_watch_duration: { pipelines: ["engagement-analytics"], processorType: "tumbling-window", step: "watch time summed per window (integer ms)" },
    calculate_completion_rate: { pipelines: ["engagement-analytics"], processorType: "tumbling-window", step: "completions (watch ≥ 90 % of duration) over views per window" },
    enrich_with_user_profile: { pipelines: ["engagement-analytics"], processorType: "stream-processor", step: "each view's genre from the content-metadata table into the user's 30-minute session" },
    calculate_affinity_scores: { pipelines: ["engagement-analytics"], processorType: "stream-processor", step: "genre affinity in the session: +1 per view over 5 minutes, like +2, share +3, add_to_list +2, rate rating − 3; top 3 above 0 (no model)" },
    generate_recommendations: { pipelines: ["engagement-analytics"], processorType: "stream-processor", step: "the session output, and rec:<userId> in Redis with a redis sink and --redis" },
  },
  // driver-tracking (DESIGN.md) and driver-eta (src/pipelines/driver-eta/spec.ts)
  location_pipeline: {
    validate_coordinates: { pipelines: ["driver-tracking", "driver-eta"], step: "validation of driverId, lat, lon, ts" },
    filter_invalid_locations: { pipelines: ["driver-tracking", "driver-eta"], step: "invalid fixes to the invalid output with the reason" },
    detect_anomalies: { pipelines: ["driver-tracking"], step: "fixes faster than 250 km/h since the driver's last fix to the anomaly output" },
    calculate_geohash: { pipelines: ["driver-tracking"], step: "geohash-5 region of each fix" },
    group_by_region: { pipelines: ["driver-tracking"], step: "fixes and mean speed per region on 60 s windows" },
    update_spatial_index: { pipelines: ["driver-tracking"], step: "Redis GEO index drivers:<region> and drivers:active", optional: "the redis-geo destination" },
    calculate_eta_to_requests: { pipelines: ["driver-eta"], step: "ETA to every open ride request within 5 km" },
    update_driver_availability: { pipelines: ["driver-eta"], step: "availability outputs (first sight, match, release)" },
    trigger_matching_algorithm: { pipelines: ["driver-eta"], step: "an available driver matched to its smallest ETA ≤ 5 minutes" },
  },
  // message-delivery (src/pipelines/message-delivery/spec.ts)
  message_pipeline: {
    validate_sender_permissions: { pipelines: ["message-delivery"], step: "the sender must be a member of the chat" },
    check_spam_filters: { pipelines: ["message-delivery"], step: "banned words, ≤ 64 KiB, ≤ 12 messages per sender per minute" },
    encrypt_content: { pipelines: ["message-delivery"], step: "AES-256-GCM at the sink edge (--encryption-key)" },
    determine_recipient_servers: { pipelines: ["message-delivery"], step: "the recipient's channel: this process's WebSocket hub, the push topic or the store" },
    check_recipient_online_status: { pipelines: ["message-delivery"], step: "presence events (online, last seen) per user" },
    route_to_appropriate_delivery_pipeline: { pipelines: ["message-delivery"], step: "online → delivery, seen within the hour → push, else stored" },
    track_delivery_status: { pipelines: ["message-delivery"], step: "SENT, DELIVERED, PUSHED, STORED, FAILED statuses" },
    handle_delivery_confirmations: { pipelines: ["message-delivery"], step: "delivered/read receipts become DELIVERED/READ statuses to the sender" },
    manage_retry_logic: { pipelines: ["message-delivery"], step: "stored messages forwarded when the recipient comes online; refused produces through the retry topic" },
  },
};

/** Where an operation of another kind lives, for "belongs to …" messages. */
export function kindOfOperation(name: string): PipelineKind | undefined {
  for (const kind of Object.keys(OPERATIONS) as PipelineKind[]) if (name in OPERATIONS[kind]) return kind;
  return undefined;
}
