/**
 * What the viewer knows of the case it was opened for (`?assignment=`), as plain data in `state.review`:
 * whose case it is (annotating one's own, or reviewing someone's), every annotator's mask as a layer of its
 * own (review), the comments and the point being pinned, the agreement numbers and a revision history.
 * The pure functions here say what the overlay, the prompt layer and the panels show; `review.ts` changes
 * this state in answer to commands and server messages.
 */

import type { LabelInfo } from "../endpoints";
import type { CommentInfo, RevisionSummary } from "../protocol";
import type { AgreementInfo, CaseInfo, TaskReview } from "../team";
import { MaskVolume, parseColor, type OverlayLayer } from "./maskLayer";

/** One annotator's (or the consensus's) mask of one label, shown over the image in their colour. */
export interface ReviewLayer {
  key: string;
  /** null: the consensus */
  username: string | null;
  labelId: number;
  color: string;
  visible: boolean;
  revision: RevisionSummary | null;
  /** the mask, kept under `labelId` */
  volume: MaskVolume;
  state?: string;
}

export interface RevisionHistory {
  layerKey: string;
  labelId: number;
  username: string | null;
  revisions: RevisionSummary[];
  /** whether this viewer may restore them (the annotator's own mask, or the consensus for reviewers) */
  canRestore: boolean;
}

export interface ReviewState {
  /** "annotate": the user's own case; "review": someone else's, for a reviewer or owner; null: no case */
  mode: "annotate" | "review" | null;
  caseInfo: CaseInfo | null;
  task: TaskReview | null;
  layers: ReviewLayer[];
  comments: CommentInfo[];
  /** where the next comment is pinned (the Comment tool's click) */
  pin: { slice: number; x: number; y: number } | null;
  agreement: AgreementInfo | null;
  history: RevisionHistory | null;
}

export function emptyReview(): ReviewState {
  return { mode: null, caseInfo: null, task: null, layers: [], comments: [], pin: null, agreement: null, history: null };
}

export function layerKey(username: string | null, labelId: number): string {
  return `${username ?? "(consensus)"}:${labelId}`;
}

/** The review layers of a task: per annotator and label, then the consensus of each label; all visible. */
export function layersOf(task: TaskReview, geometry: { depth: number; height: number; width: number }): ReviewLayer[] {
  const make = (username: string | null, labelId: number, color: string, revision: RevisionSummary | null, state?: string): ReviewLayer => ({
    key: layerKey(username, labelId),
    username,
    labelId,
    color,
    visible: true,
    revision,
    volume: new MaskVolume(geometry.depth, geometry.height, geometry.width),
    state,
  });
  const layers: ReviewLayer[] = [];
  for (const a of task.assignments) {
    for (const labelId of task.labels) layers.push(make(a.username, labelId, a.color, a.masks[String(labelId)] ?? null, a.state_label));
  }
  for (const labelId of task.labels) layers.push(make(null, labelId, task.consensus.color, task.consensus.masks[String(labelId)] ?? null));
  return layers;
}

/** What the overlay draws for the review: each visible layer with a mask on the slice, in its colour. */
export function reviewOverlayLayers(review: Pick<ReviewState, "layers">, slice: number): OverlayLayer[] {
  const out: OverlayLayer[] = [];
  for (const layer of review.layers) {
    if (!layer.visible) continue;
    const mask = layer.volume.peek(layer.labelId, slice);
    if (mask) out.push({ mask, color: parseColor(layer.color), alpha: 0.55 });
  }
  return out;
}

/** A marker on the prompt layer, in image pixels: a numbered comment, or the pin being placed. */
export interface CommentMark {
  x: number;
  y: number;
  label: string;
  resolved: boolean;
  pending: boolean;
}

/** Markers of the comments pinned on `slice` (numbered as in the comments panel) and of the pending pin. */
export function commentMarks(review: Pick<ReviewState, "comments" | "pin">, slice: number): CommentMark[] {
  const marks: CommentMark[] = [];
  review.comments.forEach((c, i) => {
    if (c.slice_index === slice && c.x !== null && c.x !== undefined && c.y !== null && c.y !== undefined) {
      marks.push({ x: c.x, y: c.y, label: String(i + 1), resolved: !!c.resolved, pending: false });
    }
  });
  if (review.pin && review.pin.slice === slice) marks.push({ x: review.pin.x, y: review.pin.y, label: "+", resolved: false, pending: true });
  return marks;
}

/** "slice 3, (120, 88)" — slices counted from 1 as the slice bar shows them. */
export function pinText(pin: { slice: number; x: number; y: number } | null): string {
  return pin ? `slice ${pin.slice + 1}, (${Math.round(pin.x)}, ${Math.round(pin.y)})` : "not pinned";
}

export interface LayerRow {
  key: string;
  name: string;
  label: string;
  color: string;
  visible: boolean;
  detail: string;
  /** the full model string behind the short name in ``detail`` (a tooltip), "" for a hand-drawn mask */
  model: string;
}

export function layerRows(review: Pick<ReviewState, "layers">, labels: LabelInfo[]): LayerRow[] {
  const names = new Map(labels.map((l) => [l.id, l.name]));
  return review.layers.map((l) => ({
    key: l.key,
    name: l.username ?? "Consensus",
    label: names.get(l.labelId) ?? `label ${l.labelId}`,
    color: l.color,
    visible: l.visible,
    detail: l.revision
      ? `revision ${l.revision.number}${l.state ? ` · ${l.state}` : ""}${modelName(l.revision) ? ` · ${modelName(l.revision)}` : ""}`
      : l.username === null
        ? "not built yet"
        : "no mask saved",
    model: l.revision?.model_version ?? "",
  }));
}

export interface AgreementRow {
  label: string;
  pair: string;
  volume: string;
  slice: string;
}

/** Pairwise Dice per label: over the volume and on the current slice ("—" where neither has a mask). */
export function agreementRows(agreement: AgreementInfo | null, slice: number, labels: LabelInfo[]): AgreementRow[] {
  if (!agreement) return [];
  const names = new Map(labels.map((l) => [l.id, l.name]));
  return agreement.labels.flatMap((entry) =>
    entry.pairs.map((p) => ({
      label: names.get(entry.label) ?? `label ${entry.label}`,
      pair: `${p.a} · ${p.b}`,
      volume: p.dice.toFixed(3),
      slice: p.slices[String(slice)] !== undefined ? p.slices[String(slice)]!.toFixed(3) : "—",
    })),
  );
}

/** The project's name for the model that made a mask ("v3", "base LiteMedSAM"), else its model string. */
export function modelName(r: Pick<RevisionSummary, "model_version" | "model_label">): string {
  return r.model_label || r.model_version || "";
}

/** One line of the revision history: who, when, how, with which model (its short name; the full string is
 * the row's tooltip). */
export function revisionLine(r: RevisionSummary): string {
  const when = r.created_at.replace("T", " ").slice(0, 16);
  const how = r.source === "consensus" && r.inputs?.method ? `consensus (${String(r.inputs.method)})` : r.source;
  return `#${r.number} · ${r.author} · ${when} · ${how}${modelName(r) ? ` · ${modelName(r)}` : ""}`;
}

/** What the user does with a case: bus commands carried out by `review.ts`. */
export type ReviewCommand =
  | { type: "review.layer.toggle"; key: string }
  /** show the revision history of a layer (or, annotating, of one's own mask of a label: key "mine:<label id>") */
  | { type: "review.history"; key: string }
  | { type: "review.restore"; revisionId: number }
  /** image pixels on the current slice (the Comment tool's click) */
  | { type: "comment.pin"; x: number; y: number }
  | { type: "comment.send"; text: string; requestChanges: boolean }
  | { type: "comment.resolve"; id: number; resolved: boolean }
  | { type: "review.approve" }
  | { type: "review.consensus"; labelId: number; method: "majority" | "staple" }
  | { type: "case.submit-next" };

const REVIEW_COMMANDS: ReadonlySet<string> = new Set([
  "review.layer.toggle",
  "review.history",
  "review.restore",
  "comment.pin",
  "comment.send",
  "comment.resolve",
  "review.approve",
  "review.consensus",
  "case.submit-next",
]);

export function isReviewCommand(command: { type: string }): command is ReviewCommand {
  return REVIEW_COMMANDS.has(command.type);
}
