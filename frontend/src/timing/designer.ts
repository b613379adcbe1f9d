/**
 * The study designer's logic, without a DOM: what the owner picked (cells of the series × label grid,
 * participants, the assisted condition's model version, seed, washout, instructions) as the body of
 * POST /api/projects/{id}/timing-studies/, or the first reason it cannot be a study. The server checks
 * everything again; this only spares a round trip for the obvious.
 */

export interface DesignerChoice {
  name: string;
  /** "seriesId:labelId" of every ticked cell */
  cells: Iterable<string>;
  participants: Iterable<number>;
  modelVersion: string;
  seed: string;
  washout: string;
  instructions: string;
}

export interface StudyBody {
  name: string;
  cases: { series: number; label: number }[];
  participants: number[];
  model_version: string;
  washout: number;
  instructions: string;
  seed?: number;
}

export function cellKey(seriesId: number, labelId: number): string {
  return `${seriesId}:${labelId}`;
}

export function studyBody(choice: DesignerChoice): { body: StudyBody } | { error: string } {
  const name = choice.name.trim();
  if (!name) return { error: "Give the study a name." };
  const cases = [...choice.cells].map((key) => {
    const [series, label] = key.split(":").map(Number);
    return { series: series!, label: label! };
  });
  if (!cases.length) return { error: "Tick at least one case (a series and the label to draw on it)." };
  const participants = [...new Set(choice.participants)];
  if (participants.length < 2) return { error: "Choose at least two participants: each case is done in both conditions." };
  const washout = choice.washout.trim() === "" ? 1 : Number(choice.washout);
  if (!Number.isInteger(washout) || washout < 0 || washout > 20) return { error: "The washout is a whole number of tasks from 0 to 20." };
  const body: StudyBody = { name, cases, participants, model_version: choice.modelVersion, washout, instructions: choice.instructions.trim() };
  if (choice.seed.trim() !== "") {
    const seed = Number(choice.seed);
    if (!Number.isInteger(seed) || seed < 0) return { error: "The seed is a whole number (leave it empty for a random one, which is recorded)." };
    body.seed = seed;
  }
  return { body };
}

/** "12 cases × 4 participants: each does 6 manual and 6 assisted" for the form's summary line. */
export function planSummary(cases: number, participants: number): string {
  if (!cases || participants < 2) return "";
  const manual = Math.ceil(cases / 2);
  const assisted = cases - manual;
  const each = manual === assisted ? `${manual} manual and ${assisted} assisted` : `${assisted}–${manual} of each condition`;
  return `${cases} case${cases === 1 ? "" : "s"} × ${participants} participants: each participant does every case once (${each}); ${cases * participants} tasks in all.`;
}
