/**
 * The launch form's request, apart from the DOM: the body of `POST
 * /api/v1/instances` from the fields as typed. Empty fields are left out, so
 * the master applies its defaults; the master validates the rest and its
 * message is what the page shows.
 */

export interface LaunchFields {
  name: string;
  image: string;
  cpus: string;
  memory: string;
  disk: string;
  cloudInit: string;
  /** "" for best fit. */
  node: string;
}

export function launchBody(fields: LaunchFields, dryRun: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { dryRun };
  const text = (key: "name" | "image" | "memory" | "disk" | "node") => {
    const value = fields[key].trim();
    if (value !== "") body[key] = value;
  };
  text("name");
  text("image");
  const cpus = fields.cpus.trim();
  if (cpus !== "") body["cpus"] = /^\d{1,7}$/.test(cpus) ? Number(cpus) : cpus;
  text("memory");
  text("disk");
  if (fields.cloudInit.trim() !== "") body["cloudInit"] = fields.cloudInit;
  text("node");
  return body;
}

/** The progress bar's share for a launch phase: a download's percent, else a step of the way. */
export function launchProgress(phase: string, percent: number | null): number | null {
  const steps: Record<string, number> = {
    Creating: 0.05,
    "Retrieving image": 0.1,
    "Verifying image": 0.6,
    "Preparing image": 0.7,
    Configuring: 0.8,
    Starting: 0.85,
    "Waiting for initialization": 0.92,
  };
  if (phase === "Retrieving image" && percent !== null) return 0.1 + 0.5 * Math.min(1, Math.max(0, percent / 100));
  return steps[phase] ?? null;
}
