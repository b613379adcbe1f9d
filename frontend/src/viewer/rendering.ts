/**
 * The three stacked canvases over one viewport: the image (windowed in the browser), the mask overlay
 * (every visible label, plus the model's candidate drawn fainter) and the prompt layer (box, points, brush
 * cursor). Image and overlay are kept at image resolution in off-screen buffers and drawn through the
 * viewport's transform once per animation frame. What to draw is decided by pure functions of the state
 * (`overlayLayers`, `promptMarks`); this class only paints.
 */

import { applyWindow } from "./windowing";
import { composite, parseColor, type OverlayLayer, type Rect } from "./maskLayer";
import { rgbToRgba, type RawSlice } from "./sliceSource";
import { commentMarks, reviewOverlayLayers, type CommentMark } from "./reviewState";
import type { ViewerState } from "./state";

/** The overlay of the current slice: visible labels in order, then the candidate on top. */
export function overlayLayers(state: Pick<ViewerState, "labels" | "hiddenLabels" | "volume" | "slice" | "candidate" | "review">): OverlayLayer[] {
  const layers: OverlayLayer[] = [];
  for (const label of state.labels) {
    if (state.hiddenLabels.has(label.id)) continue;
    const mask = state.volume.peek(label.id, state.slice);
    if (mask) layers.push({ mask, color: parseColor(label.color) });
  }
  // Reviewing: each annotator's mask in their colour (reviewState.ts).
  layers.push(...reviewOverlayLayers(state.review, state.slice));
  const c = state.candidate;
  if (c && c.slice === state.slice) {
    const label = state.labels.find((l) => l.id === c.labelId);
    layers.push({ mask: c.masks[c.index]!.mask, color: parseColor(label?.color ?? "#ffff00"), alpha: 0.7 });
  }
  return layers;
}

/** Something on the prompt layer, in image pixels (the radius too). */
export type Mark =
  | { kind: "box"; x0: number; y0: number; x1: number; y1: number; dashed: boolean }
  | { kind: "point"; x: number; y: number; positive: boolean }
  | { kind: "cursor"; x: number; y: number; radius: number; color: string }
  | ({ kind: "comment" } & CommentMark);

export function promptMarks(
  state: Pick<ViewerState, "prompt" | "slice" | "drag" | "pointer" | "tool" | "readOnly" | "activeLabel" | "brushRadius"> & Partial<Pick<ViewerState, "review">>,
): Mark[] {
  const marks: Mark[] = state.review ? commentMarks(state.review, state.slice).map((m) => ({ kind: "comment" as const, ...m })) : [];
  const prompt = state.prompt;
  if (prompt && prompt.slice === state.slice) {
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
  private readonly imageData: ImageData;
  /** the composited overlay of the current slice, at image resolution */
  readonly overlay: ImageData;
  private drawQueued = false;
  private resized = false;

  constructor(
    private readonly canvases: Canvases,
    private readonly state: ViewerState,
  ) {
    const { width, height } = state.geometry;
    this.imageBuffer.width = this.maskBuffer.width = width;
    this.imageBuffer.height = this.maskBuffer.height = height;
    this.imageData = new ImageData(width, height);
    this.overlay = new ImageData(width, height);
  }

  image(raw: RawSlice | undefined): void {
    if (!raw) return;
    if (raw.channels === 3) rgbToRgba(raw.values as Uint8Array, this.imageData.data);
    else applyWindow(raw.values, this.state.window, this.imageData.data);
    this.imageBuffer.getContext("2d")!.putImageData(this.imageData, 0, 0);
    this.redraw();
  }

  mask(rect?: Rect | null): void {
    const opacity = this.state.masksVisible ? this.state.opacity : 0;
    composite(overlayLayers(this.state), opacity, this.overlay.data, this.state.geometry.width, rect ?? undefined);
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
    for (const mark of promptMarks(this.state)) {
      if (mark.kind === "box") {
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
