// The admin HTTP listener from a test: /metrics parsed with parse-prometheus-text-format, one sample looked up by labels.
import parsePrometheusTextFormat from "parse-prometheus-text-format";

export type MetricFamilies = ReturnType<typeof parsePrometheusTextFormat>;

export async function scrape(adminUrl: string, headers: Record<string, string> = {}): Promise<MetricFamilies> {
  const response = await fetch(`${adminUrl}/metrics`, { headers });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${await response.text()}`);
  return parsePrometheusTextFormat(await response.text());
}

/** The value of the sample of `name` whose labels include `labels`; undefined when there is none. */
export function sample(families: MetricFamilies, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((candidate) => candidate.name === name);
  const match = family?.metrics.find((metric) => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value));
  return match?.value === undefined ? undefined : Number(match.value);
}
