/**
 * The three stacked canvases over one viewport: the image (windowed in the browser), the mask overlay
 * (every visible label, plus the model's candidate drawn fainter) and the prompt layer (box, points, brush
 * cursor). Image and overlay are kept at image resolution in off-screen buffers and drawn through the
 * viewport's transform once per animation frame. What to draw is decided by pure functions of the state
 * (`overlayLayers`, `promptMarks`); this class only paints. Images are the shown plane's display grid
 * (planes.ts): a coronal or sagittal plane's masks are drawn by nearest voxel.
 */

import { applyWindow } from "./windowing";
import { composite, parseColor, type OverlayLayer, type Rect } from "./maskLayer";
import { crosshairAt, readPlane, toDisplay, type PlaneGrid } from "./planes";
import { rgbToRgba, type RawSlice } from "./sliceSource";
import { commentMarks, reviewOverlayLayers, type CommentMark } from "./reviewState";
import { currentGrid, planeOf, type ViewerState } from "./state";

type OverlayState = Pick<ViewerState, "labels" | "hiddenLabels" | "volume" | "slice" | "candidate" | "plane" | "planes" | "review">;

/** Every visible label's mask on slice `index` of `grid`'s plane, on its display grid, in label order. */
export function labelLayers(state: Pick<OverlayState, "labels" | "hiddenLabels" | "volume">, grid: PlaneGrid, index: number): OverlayLayer[] {
  const layers: OverlayLayer[] = [];
  for (const label of state.labels) {
    if (state.hiddenLabels.has(label.id)) continue;
    const mask = readPlane(state.volume, label.id, grid, index);
    if (mask) layers.push({ mask: toDisplay(mask, grid), color: parseColor(label.color) });
  }
  return layers;
}

/** The overlay of the current slice of the plane shown: visible labels in order, then the candidate on top. */
export function overlayLayers(state: OverlayState): OverlayLayer[] {
  const grid = currentGrid(state);
  const layers = labelLayers(state, grid, state.slice);
  // Reviewing: each annotator's mask in their colour (reviewState.ts), on axial slices.
  if (state.plane === "axial") layers.push(...reviewOverlayLayers(state.review, state.slice));
  const c = state.candidate;
  if (c && c.slice === state.slice && planeOf(c) === state.plane) {
    const label = state.labels.find((l) => l.id === c.labelId);
    layers.push({ mask: toDisplay(c.masks[c.index]!.mask, grid), color: parseColor(label?.color ?? "#ffff00"), alpha: 0.7 });
  }
  return layers;
}

/** Something on the prompt layer, in image pixels (the radius too). */
export type Mark =
  | { kind: "box"; x0: number; y0: number; x1: number; y1: number; dashed: boolean }
  | { kind: "point"; x: number; y: number; positive: boolean }
  | { kind: "cursor"; x: number; y: number; radius: number; color: string }
  /** the crosshair: where the other planes cut this one */
  | { kind: "line"; x0: number; y0: number; x1: number; y1: number }
  | ({ kind: "comment" } & CommentMark);

type MarkState = Pick<ViewerState, "prompt" | "slice" | "drag" | "pointer" | "tool" | "readOnly" | "activeLabel" | "brushRadius">;
type CrosshairState = Pick<ViewerState, "plane" | "planes" | "cursor" | "crosshairVisible" | "geometry">;

/** The crosshair's two lines across the shown plane, when the series has other planes and it is on. */
export function crosshairMarks(state: CrosshairState): Mark[] {
  if (!state.crosshairVisible || !state.planes.coronal) return [];
  const grid = currentGrid(state);
  const { x, y } = crosshairAt(grid, state.geometry.depth, state.cursor);
  return [
    { kind: "line", x0: x, y0: 0, x1: x, y1: grid.displayRows },
    { kind: "line", x0: 0, y0: y, x1: grid.displayCols, y1: y },
  ];
}

export function promptMarks(state: MarkState & Partial<Pick<ViewerState, "plane" | "review">>): Mark[] {
  const onAxial = (state.plane ?? "axial") === "axial";
  const marks: Mark[] = state.review && onAxial ? commentMarks(state.review, state.slice).map((m) => ({ kind: "comment" as const, ...m })) : [];
  const prompt = state.prompt;
  if (prompt && prompt.slice === state.slice && planeOf(prompt) === (state.plane ?? "axial")) {
    if (prompt.box) {
      const [x0, y0, x1, y1] = prompt.box;
      marks.push({ kind: "box", x0, y0, x1, y1, dashed: false });
    }
    for (const p of prompt.points) marks.push({ kind: "point", x: p.x, y: p.y, positive: p.label === 1 });
  }
  const d = state.drag;
  if (d?.kind === "box") marks.push({ kind: "box", x0: d.start.x, y0: d.start.y, x1: d.last.x, y1: d.last.y, dashed: true });
  if (state.pointer && (state.tool === "brush" || state.tool === "eraser") && !state.readOnly) {
    const color = state.tool === "eraser" ? "#fff" : (state.activeLabel?.color ?? "#fff");
    marks.push({ kind: "cursor", x: state.pointer.x, y: state.pointer.y, radius: state.brushRadius, color });
  }
  return marks;
}

export interface Canvases {
  stage: HTMLElement;
  image: HTMLCanvasElement;
  mask: HTMLCanvasElement;
  prompt: HTMLCanvasElement;
}

export class Renderer {
  private readonly imageBuffer = document.createElement("canvas");
  private readonly maskBuffer = document.createElement("canvas");
  private imageData!: ImageData;
  /** the composited overlay of the current slice, at the plane's display resolution */
  overlay!: ImageData;
  private drawQueued = false;
  private resized = false;

  constructor(
    private readonly canvases: Canvases,
    private readonly state: ViewerState,
  ) {
    this.size();
  }

  /** Size the buffers for the plane shown (its display grid) and fit it to the stage. */
  setPlane(): void {
    this.size();
    this.state.viewport.fit();
    this.redraw();
  }

  private size(): void {
    const { displayCols: width, displayRows: height } = currentGrid(this.state);
    this.imageBuffer.width = this.maskBuffer.width = width;
    this.imageBuffer.height = this.maskBuffer.height = height;
    this.imageData = new ImageData(width, height);
    this.overlay = new ImageData(width, height);
    this.state.viewport.image = { width, height };
  }

  image(raw: RawSlice | undefined): void {
    // A slice of another plane (still arriving after a switch) does not fit the buffers.
    if (!raw || raw.width !== this.imageData.width || raw.height !== this.imageData.height) return;
    if (raw.channels === 3) rgbToRgba(raw.values as Uint8Array, this.imageData.data);
    else applyWindow(raw.values, this.state.window, this.imageData.data);
    this.imageBuffer.getContext("2d")!.putImageData(this.imageData, 0, 0);
    this.redraw();
  }

  mask(rect?: Rect | null): void {
    const opacity = this.state.masksVisible ? this.state.opacity : 0;
    composite(overlayLayers(this.state), opacity, this.overlay.data, this.overlay.width, rect ?? undefined);
    const ctx = this.maskBuffer.getContext("2d")!;
    if (rect) ctx.putImageData(this.overlay, 0, 0, rect.x0, rect.y0, rect.x1 - rect.x0, rect.y1 - rect.y0);
    else ctx.putImageData(this.overlay, 0, 0);
    this.redraw();
  }

  redraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      this.draw();
    });
  }

  /** Fit the canvases to the stage (the first time, fit the image too) and draw now. */
  resize(): void {
    const rect = this.canvases.stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    for (const canvas of [this.canvases.image, this.canvases.mask, this.canvases.prompt]) {
      canvas.width = Math.max(1, Math.round(rect.width * dpr));
      canvas.height = Math.max(1, Math.round(rect.height * dpr));
    }
    const viewport = this.state.viewport;
    const first = viewport.screen.width === 800 && viewport.screen.height === 600 && !this.resized;
    viewport.resize({ width: rect.width, height: rect.height });
    if (first) viewport.fit();
    this.resized = true;
    this.draw();
  }

  private draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const viewport = this.state.viewport;
    const m = viewport.matrix(dpr);
    for (const [canvas, buffer] of [
      [this.canvases.image, this.imageBuffer],
      [this.canvases.mask, this.maskBuffer],
    ] as const) {
      const ctx = canvas.getContext("2d")!;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.imageSmoothingEnabled = viewport.scale < 1;
      ctx.setTransform(...m);
      ctx.drawImage(buffer, 0, 0);
    }
    this.drawPrompts();
  }

  private drawPrompts(): void {
    const canvas = this.canvases.prompt;
    const ctx = canvas.getContext("2d")!;
    const dpr = window.devicePixelRatio || 1;
    const viewport = this.state.viewport;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineWidth = 2;
    for (const mark of [...crosshairMarks(this.state), ...promptMarks(this.state)]) {
      if (mark.kind === "line") {
        const [x0, y0] = viewport.toScreen(mark.x0, mark.y0);
        const [x1, y1] = viewport.toScreen(mark.x1, mark.y1);
        ctx.strokeStyle = "rgba(255, 202, 40, 0.55)";
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x0, y0);
        ctx.lineTo(x1, y1);
        ctx.stroke();
        ctx.lineWidth = 2;
      } else if (mark.kind === "box") {
        const [x0, y0] = viewport.toScreen(mark.x0, mark.y0);
        const [x1, y1] = viewport.toScreen(mark.x1, mark.y1);
        if (mark.dashed) ctx.setLineDash([6, 4]);
        ctx.strokeStyle = "#4fc3f7";
        ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
        ctx.setLineDash([]);
      } else if (mark.kind === "point") {
        const [sx, sy] = viewport.toScreen(mark.x, mark.y);
        ctx.fillStyle = mark.positive ? "#43a047" : "#e53935";
        ctx.beginPath();
        ctx.arc(sx, sy, 5, 0, Math.PI * 2);
        ctx.fill();
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      } else if (mark.kind === "comment") {
        drawCommentMark(ctx, viewport.toScreen(mark.x, mark.y), mark);
      } else {
        const [sx, sy] = viewport.toScreen(mark.x, mark.y);
        ctx.strokeStyle = mark.color;
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.arc(sx, sy, mark.radius * viewport.scale, 0, Math.PI * 2);
        ctx.stroke();
      }
    }
  }
}

/** A comment's marker: a numbered disc (grey once resolved; dashed for the pin being placed). */
function drawCommentMark(ctx: CanvasRenderingContext2D, [sx, sy]: [number, number], mark: CommentMark): void {
  ctx.save();
  ctx.lineWidth = 2;
  ctx.fillStyle = mark.resolved ? "rgba(120,120,120,0.85)" : "rgba(255,193,7,0.95)";
  ctx.strokeStyle = "#1d2330";
  if (mark.pending) ctx.setLineDash([3, 2]);
  ctx.beginPath();
  ctx.arc(sx, sy, 9, 0, Math.PI * 2);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = "#1d2330";
  ctx.font = "bold 11px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(mark.label, sx, sy);
  ctx.restore();
}
