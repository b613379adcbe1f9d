/**
 * Everything the viewer knows, in one object the controller owns. The parts (rendering, input, prompting,
 * editing, propagation, panels) receive it and read or change the fields that are theirs; no part holds a
 * copy. Plain data apart from the mask volume, the undo history and the viewport, whose methods keep
 * their own invariants.
 */

import type { LabelInfo, ProjectInfo, SeriesInfo } from "../endpoints";
import type { PresenceUser } from "../protocol";
import type { Rle } from "../rle";
import type { Point } from "./brush";
import { History } from "./history";
import { MaskVolume, type Rect } from "./maskLayer";
import { planeGrids, type Plane, type PlaneGrid, type PlaneGrids, type Voxel } from "./planes";
import type { PropagationRun } from "./propagation";
import { emptyReview, type ReviewState } from "./reviewState";
import type { Tool } from "./tools";
import { Viewport } from "./viewport";
import type { DisplayWindow } from "./windowing";

export interface Geometry {
  /** slices (1 for a 2D image) */
  depth: number;
  height: number;
  width: number;
  /** 1 for grey intensities, 3 for RGB images */
  channels: 1 | 3;
}

/** The model's answer to the prompts on one slice, shown over the image until accepted or discarded. */
export interface Candidate {
  slice: number;
  /** the plane `slice` counts along (axial when not said); the masks lie on its voxel grid */
  plane?: Plane;
  labelId: number;
  masks: { mask: Uint8Array; iou: number }[];
  /** the mask shown (Tab cycles) */
  index: number;
  model: string;
}

/** The box and points the user gave on one slice; points refine the box's candidate. */
export interface PromptState {
  slice: number;
  /** axial when not said; the box and points are display pixels of that plane */
  plane?: Plane;
  box: [number, number, number, number] | null;
  points: { x: number; y: number; label: 0 | 1 }[];
}

/** The model's first prediction on a (label, slice): saved beside the final mask for the active-learning loop. */
export interface FirstPrediction {
  rle: Rle;
  iou: number;
  model: string;
}

/** A mouse drag in progress (input.ts), in screen pixels unless said otherwise. */
export type Drag =
  | { kind: "box"; start: Point; last: Point } // image pixels: the dashed box drawn while dragging
  | { kind: "pan"; lastX: number; lastY: number }
  | { kind: "window"; startX: number; startY: number; startWindow: DisplayWindow; sensitivity: number }
  | { kind: "stroke" };

/** A brush or eraser stroke being painted (editing.ts): one undo step when the mouse is released. */
export interface Stroke {
  labelId: number;
  slice: number;
  /** axial when not said; `before`, `dirty` and the mask painted lie on that plane's voxel grid */
  plane?: Plane;
  value: 0 | 1;
  /** the slice's mask before the stroke */
  before: Uint8Array;
  /** the part of the mask the stroke touched so far */
  dirty: Rect | null;
  last: Point;
}

export interface ViewerState {
  readonly project: ProjectInfo;
  readonly series: SeriesInfo;
  readonly username: string;
  /** the task assignment worked on or reviewed here, sent with every subscribe */
  readonly assignmentId: number | null;
  /** reviewers look but do not edit */
  readonly readOnly: boolean;
  /** false in a timing study's manual condition: no prompts, no propagation (the server refuses them too) */
  modelAllowed: boolean;
  readonly geometry: Geometry;
  readonly labels: LabelInfo[];
  activeLabel: LabelInfo | null;
  hiddenLabels: Set<number>;
  /** every label's mask on every slice, as edited here (saved or not) */
  readonly volume: MaskVolume;
  readonly history: History;
  /** zoom and pan: image ↔ screen coordinates */
  readonly viewport: Viewport;

  slice: number;
  tool: Tool;
  brushRadius: number;
  opacity: number;
  masksVisible: boolean;
  /** the keyboard help overlay is shown (Esc closes it before it discards anything) */
  helpOpen: boolean;
  /** the display window (free; the model's input window is the label's preset, chosen on the server) */
  window: DisplayWindow;
  /** the preset the window came from; "" once dragged */
  windowName: string;

  /** slices whose embedding for `embeddingPreset` is ready */
  ready: Set<number>;
  embeddingPreset: string;
  /** embedding.ready messages received (the window/level test checks that dragging causes none) */
  embeddingEvents: number;
  presence: PresenceUser[];

  candidate: Candidate | null;
  prompt: PromptState | null;
  /** a prompt was sent and its answer is awaited */
  promptPending: boolean;
  /** keyed by `firstPredictionKey` */
  readonly firstPredictions: Map<string, FirstPrediction>;

  /** the current or last propagation (its panel line stays after it ends) */
  propagation: PropagationRun | null;
  /** a propagate request waits for its job.created reply */
  startingJob: boolean;

  drag: Drag | null;
  stroke: Stroke | null;
  /** the image point under the mouse, null when it is off the image canvas */
  pointer: Point | null;

  /** the case opened with `?assignment=`: layers, comments, agreement (reviewState.ts, review.ts) */
  readonly review: ReviewState;
  // Planes (issue 15) ------------------------------------------------------------------------------
  /** the main view's plane; `slice` counts along its normal and image points are its display pixels */
  plane: Plane;
  /** the planes the series offers, with their voxel and display (square-pixel) grids */
  readonly planes: PlaneGrids;
  /** the crosshair linking the views: its coordinate along `plane`'s normal is `slice` */
  cursor: Voxel;
  crosshairVisible: boolean;
  /** embeddings known to be ready, per plane; `ready` is the current plane's set */
  readonly readyByPlane: Record<Plane, Set<number>>;
}

/** The grid of the plane shown in the main view. */
export function currentGrid(state: Pick<ViewerState, "plane" | "planes">): PlaneGrid {
  return state.planes[state.plane] ?? state.planes.axial;
}

/** The plane a candidate, prompt or stroke was made on. */
export function planeOf(thing: { plane?: Plane }): Plane {
  return thing.plane ?? "axial";
}

export function firstPredictionKey(labelId: number, slice: number): string {
  return `${labelId}:${slice}`;
}

/** Slices and pixels of a series: [Z, Y, X], or [1, Y, X, 3] for a colour image. */
export function geometryOf(series: Pick<SeriesInfo, "shape" | "kind">): Geometry {
  const shape = series.shape;
  return {
    channels: shape.length === 4 && shape[3] === 3 ? 3 : 1,
    depth: series.kind === "image" ? 1 : shape[0]!,
    height: shape[1]!,
    width: shape[2]!,
  };
}

export interface StateInit {
  project: ProjectInfo;
  series: SeriesInfo;
  username: string;
  role: string | null;
  /** the task assignment worked on or reviewed here (the page's `?assignment=`), if any */
  assignmentId?: number | null;
  /** someone else's case opened for review: the viewer does not edit masks (owners included) */
  reviewing?: boolean;
}

/** The state of a viewer that has just loaded the project and the series: middle slice, first label, box tool. */
export function createViewerState({ project, series, username, role, assignmentId = null, reviewing = false }: StateInit): ViewerState {
  const geometry = geometryOf(series);
  const readOnly = role === "reviewer" || reviewing;
  const ready = new Set<number>();
  return {
    project,
    series,
    username,
    assignmentId,
    readOnly,
    modelAllowed: true,
    geometry,
    labels: project.labels,
    activeLabel: project.labels[0] ?? null,
    hiddenLabels: new Set(),
    volume: new MaskVolume(geometry.depth, geometry.height, geometry.width),
    history: new History(),
    // The screen size is a placeholder until the stage is measured (rendering.ts fits the image then).
    viewport: new Viewport({ width: geometry.width, height: geometry.height }, { width: 800, height: 600 }),
    slice: 0,
    tool: readOnly ? "pan" : "box",
    brushRadius: 6,
    opacity: 0.5,
    masksVisible: true,
    helpOpen: false,
    window: { level: 40, width: 400 },
    windowName: "",
    ready,
    embeddingPreset: "",
    embeddingEvents: 0,
    presence: [],
    candidate: null,
    prompt: null,
    promptPending: false,
    firstPredictions: new Map(),
    propagation: null,
    startingJob: false,
    drag: null,
    stroke: null,
    pointer: null,
    review: emptyReview(),
    plane: "axial",
    planes: planeGrids(series.kind === "volume" && geometry.channels === 1 ? series.planes : undefined, geometry),
    cursor: { x: Math.floor(geometry.width / 2), y: Math.floor(geometry.height / 2), z: 0 },
    crosshairVisible: true,
    readyByPlane: { axial: ready, coronal: new Set(), sagittal: new Set() },
  };
}
