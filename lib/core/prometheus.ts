/**
 * The Prometheus text exposition format (version 0.0.4), written by hand:
 * families of gauges, counters and histograms, each with its `# HELP` and
 * `# TYPE`, label values escaped, and histogram buckets cumulative with a
 * `+Inf` bucket, `_sum` and `_count`. Pure: lib/master/metrics.ts gathers
 * the figures, this only formats them.
 */

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels: Labels;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: readonly Sample[];
}

/** A histogram family: per label set, counts per upper bound (not cumulative), the sum and the count. */
export interface HistogramFamily {
  name: string;
  help: string;
  type: "histogram";
  /** Upper bounds, ascending, without +Inf. */
  buckets: readonly number[];
  series: readonly { labels: Labels; counts: readonly number[]; sum: number; count: number }[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  for (const [name] of pairs) if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)}`);
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

function header(name: string, help: string, type: string): string {
  if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** The exposition text of `families`, in the order given. @throws Error on a bad metric or label name (a programming error) */
export function formatMetrics(families: readonly (Family | HistogramFamily)[]): string {
  let text = "";
  for (const family of families) {
    text += header(family.name, family.help, family.type);
    if (family.type !== "histogram") {
      for (const sample of family.samples) text += `${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}\n`;
      continue;
    }
    for (const series of family.series) {
      let cumulative = 0;
      family.buckets.forEach((bound, i) => {
        cumulative += series.counts[i] ?? 0;
        text += `${family.name}_bucket${formatLabels(series.labels, ["le", formatValue(bound)])} ${cumulative}\n`;
      });
      text += `${family.name}_bucket${formatLabels(series.labels, ["le", "+Inf"])} ${series.count}\n`;
      text += `${family.name}_sum${formatLabels(series.labels)} ${formatValue(series.sum)}\n`;
      text += `${family.name}_count${formatLabels(series.labels)} ${series.count}\n`;
    }
  }
  return text;
}
