/** The timing report's JSON (annotator/actions/timing_report.py study_report) and what the page derives from it. */

export interface Described {
  n: number;
  mean: number | null;
  median: number | null;
  sd: number | null;
}

export interface ReportRun {
  participant: string;
  case: number;
  series: number;
  series_description: string;
  label: string;
  condition: "manual" | "assisted";
  position: number;
  state: string;
  active_s: number | null;
  model_used: boolean;
  model_versions: string[];
  interactions: Record<string, number>;
  revision: number | null;
  dice: number | null;
  nsd: number | null;
}

export interface StudyReport {
  study: {
    id: number;
    name: string;
    simulated: boolean;
    model_version: string;
    seed: number;
    washout: number;
    design: Record<string, unknown>;
    idle_threshold_s: number;
  };
  n_masks: number;
  n_pairs: number;
  time_saved_pct: number | null;
  ci95: [number, number] | null;
  ci_method: string;
  p_value: number | null;
  test: string;
  per_condition: Record<"manual" | "assisted", Described>;
  per_participant: Record<string, Partial<Record<"manual" | "assisted", Described>>>;
  pairs: { case: number; manual_s: number; assisted_s: number }[];
  quality: Record<"manual" | "assisted", { masks: number; dice: number | null; nsd: number | null; interactions_per_mask: Record<string, number> }>;
  agreement: { case: number; dice_all: number | null; dice_manual: number | null; dice_assisted: number | null }[];
  runs: ReportRun[];
}

const FINISHED = new Set(["submitted", "approved"]);

/** The runs that count: submitted (or approved) with logged time. */
export function finishedRuns(report: Pick<StudyReport, "runs">): (ReportRun & { active_s: number; step: number })[] {
  return report.runs
    .filter((r) => FINISHED.has(r.state) && r.active_s !== null)
    .map((r) => ({ ...r, active_s: r.active_s!, step: r.position + 1 }));
}

/** Each paired case as two points, manual then assisted, for the paired-lines plot. */
export function pairedPoints(report: Pick<StudyReport, "pairs">): { case: string; condition: "manual" | "assisted"; seconds: number }[] {
  return report.pairs.flatMap((p) => [
    { case: `case ${p.case + 1}`, condition: "manual" as const, seconds: p.manual_s },
    { case: `case ${p.case + 1}`, condition: "assisted" as const, seconds: p.assisted_s },
  ]);
}

function pct(value: number): string {
  return `${value.toFixed(1)}%`;
}

/** The report's first sentence. */
export function headline(report: StudyReport): string {
  if (report.time_saved_pct === null) {
    return report.n_pairs
      ? "No time saved can be stated yet (the manual masks took no active time)."
      : `No case is finished in both conditions yet (${report.n_masks} finished mask${report.n_masks === 1 ? "" : "s"}).`;
  }
  const saved = report.time_saved_pct;
  const ci = report.ci95 ? `95% CI ${pct(report.ci95[0])} to ${pct(report.ci95[1])}` : `no interval: ${report.ci_method}`;
  const p = report.p_value !== null ? `Wilcoxon signed-rank p = ${report.p_value < 0.001 ? report.p_value.toExponential(1) : report.p_value.toFixed(3)}` : report.test;
  const pairs = `${report.n_pairs} paired case${report.n_pairs === 1 ? "" : "s"}, ${report.n_masks} masks`;
  const slower = saved < 0 ? " Negative: the model made annotation slower." : "";
  return `Time saved with the model: ${pct(saved)} (${ci}; ${p}; ${pairs}).${slower}`;
}

/** The kinds of interaction counted in either condition, in a stable order. */
export function interactionKinds(report: Pick<StudyReport, "quality">): string[] {
  const kinds = new Set([...Object.keys(report.quality.manual.interactions_per_mask), ...Object.keys(report.quality.assisted.interactions_per_mask)]);
  return [...kinds].sort();
}
