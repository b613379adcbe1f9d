/** Tables of the timing pages (the report, the model-version dashboard), from their JSON as the API sends it. */

import { h } from "../ui/dom";

export interface VersionRow {
  model_version: string;
  masks: number;
  mean_active_s: number | null;
  mean_corrections: number | null;
  mean_dice: number | null;
  mean_dice_per_click: number | null;
}

export function fixed(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

export function table(head: string[], rows: (string | number | null)[][], className = "data"): HTMLTableElement {
  return h(
    "table",
    { class: className },
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c === null ? "–" : String(c)))))),
  );
}

export function dashboardTable(rows: VersionRow[]): HTMLTableElement {
  return table(
    ["model version", "masks", "mean active time (s)", "corrections per mask", "Dice", "Dice per click"],
    rows.map((r) => [r.model_version, r.masks, fixed(r.mean_active_s), fixed(r.mean_corrections), fixed(r.mean_dice, 3), fixed(r.mean_dice_per_click, 3)]),
    "data model-versions",
  );
}
