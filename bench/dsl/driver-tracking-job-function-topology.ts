/**
 * driver-tracking-job-topology.ts with the anomaly check as a user function (speedCheck: what
 * Fields.speedLimit does, written out) instead of the built-in: processValues' general path
 * (the row and the store's view per record).
 */
import { driverTrackingJob, schemaStrings } from "./driver-tracking-job-topology.js";

export default function topology() {
  return driverTrackingJob(schemaStrings, "function");
}
