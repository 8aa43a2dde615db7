/** driver-tracking-job-topology.ts on string driver ids, as JSON input carries them (the test's module). */
import { driverTrackingJob, schemaStrings } from "./driver-tracking-job-topology.js";

export default function topology() {
  return driverTrackingJob(schemaStrings);
}
