/**
 * Mouse, wheel and keyboard on the stage, turned into commands. The left button does what the current
 * tool does (box, point, brush, eraser, fill, pan); the right button drags the display window; the middle
 * button or Space pans; Ctrl+wheel zooms, Alt+wheel sizes the brush and the wheel scrolls slices; keys go
 * through the tools and shortcuts table; Shift+click moves the crosshair. Drags in progress live in
 * `state.drag`, so the renderer can draw a box being dragged. Image points are display pixels of the plane
 * shown.
 */

import type { Point } from "./brush";
import type { Dispatch } from "./bus";
import type { RawSlice } from "./sliceSource";
import type { ViewerState } from "./state";
import { actionForKey, type KeyLike } from "./tools";
import { clamp, wheelZoomFactor } from "./viewport";
import { dragSensitivity, dragWindow, intensityRange } from "./windowing";

export interface PointerLike {
  clientX: number;
  clientY: number;
  button: number;
  pointerId: number;
  shiftKey?: boolean;
}

export interface WheelLike {
  clientX: number;
  clientY: number;
  deltaY: number;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey?: boolean;
  preventDefault(): void;
}

export interface KeyEventLike extends KeyLike {
  target: EventTarget | null;
  preventDefault(): void;
}

/** The element the pointer events come from. */
export interface InputSurface {
  /** Where a client point is on the canvas, in screen (CSS) pixels. */
  local(clientX: number, clientY: number): [number, number];
  capture(pointerId: number): void;
  release(pointerId: number): void;
  focus(): void;
}

export interface InputDeps {
  state: ViewerState;
  surface: InputSurface;
  dispatch: Dispatch;
  redraw(): void;
  warn(text: string): void;
  /** the current slice's raw intensities, if loaded (a window drag's sensitivity comes from their range) */
  currentSlice(): RawSlice | undefined;
  /** the mouse moved over the image or left it (the hover readout) */
  hover?(): void;
}

/** Whether a key press belongs to a text field rather than to the viewer. */
export function typingInto(target: EventTarget | null): boolean {
  const el = target as { tagName?: string; type?: string } | null;
  if (!el?.tagName) return false;
  return (el.tagName === "INPUT" && el.type !== "range") || el.tagName === "TEXTAREA";
}

export class ViewerInput {
  private spaceHeld = false;

  constructor(private readonly deps: InputDeps) {}

  private imagePoint(sx: number, sy: number): Point {
    const [x, y] = this.deps.state.viewport.toImage(sx, sy);
    return { x, y };
  }

  down(ev: PointerLike): void {
    const { state, surface, dispatch } = this.deps;
    surface.focus();
    const [sx, sy] = surface.local(ev.clientX, ev.clientY);
    const p = this.imagePoint(sx, sy);
    surface.capture(ev.pointerId);
    if (ev.button === 2) {
      // The sensitivity comes from the slice's intensity range once per drag (a 2048² slice has 4 M values).
      const raw = this.deps.currentSlice();
      const range = raw && raw.channels === 1 ? intensityRange(raw.values) : { min: 0, max: 1000 };
      state.drag = { kind: "window", startX: sx, startY: sy, startWindow: { ...state.window }, sensitivity: dragSensitivity(range) };
      return;
    }
    if (ev.button === 0 && ev.shiftKey) {
      dispatch({ type: "crosshair.point", plane: state.plane, x: p.x, y: p.y });
      return;
    }
    if (ev.button === 1 || this.spaceHeld || state.tool === "pan") {
      state.drag = { kind: "pan", lastX: sx, lastY: sy };
      return;
    }
    if (ev.button === 0 && state.tool === "comment") {
      dispatch({ type: "comment.pin", x: p.x, y: p.y });
      return;
    }
    if (ev.button !== 0 || state.readOnly || !state.activeLabel) {
      if (!state.activeLabel && !state.readOnly) this.deps.warn("This project has no labels: add one before drawing.");
      return;
    }
    switch (state.tool) {
      case "box":
        state.drag = { kind: "box", start: p, last: p };
        break;
      case "point-positive":
      case "point-negative":
        dispatch({ type: "prompt.point", x: p.x, y: p.y, label: state.tool === "point-positive" ? 1 : 0 });
        break;
      case "brush":
      case "eraser":
        dispatch({ type: "stroke.begin", x: p.x, y: p.y, value: state.tool === "brush" ? 1 : 0 });
        state.drag = { kind: "stroke" };
        break;
      case "fill":
        dispatch({ type: "fill", x: p.x, y: p.y });
        break;
    }
  }

  move(ev: PointerLike): void {
    const { state, surface, dispatch } = this.deps;
    const [sx, sy] = surface.local(ev.clientX, ev.clientY);
    const p = this.imagePoint(sx, sy);
    state.pointer = p;
    this.deps.hover?.();
    const d = state.drag;
    if (!d) {
      if (state.tool === "brush" || state.tool === "eraser") this.deps.redraw();
      return;
    }
    switch (d.kind) {
      case "window":
        // In the browser on the cached raw intensities: no request, and the model's window is not touched.
        if (state.geometry.channels === 3) return;
        dispatch({ type: "window.drag", window: dragWindow(d.startWindow, sx - d.startX, sy - d.startY, d.sensitivity) });
        break;
      case "pan":
        dispatch({ type: "pan", dx: sx - d.lastX, dy: sy - d.lastY });
        d.lastX = sx;
        d.lastY = sy;
        break;
      case "box":
        d.last = p;
        this.deps.redraw();
        break;
      case "stroke":
        dispatch({ type: "stroke.extend", x: p.x, y: p.y });
        break;
    }
  }

  up(ev: PointerLike): void {
    const { state, dispatch } = this.deps;
    const d = state.drag;
    state.drag = null;
    this.deps.surface.release(ev.pointerId);
    if (!d) return;
    if (d.kind === "window") dispatch({ type: "window.drag-end" });
    if (d.kind === "box") {
      const { width, height } = state.viewport.image;
      const x0 = clamp(Math.min(d.start.x, d.last.x), 0, width);
      const y0 = clamp(Math.min(d.start.y, d.last.y), 0, height);
      const x1 = clamp(Math.max(d.start.x, d.last.x), 0, width);
      const y1 = clamp(Math.max(d.start.y, d.last.y), 0, height);
      if (x1 - x0 < 2 || y1 - y0 < 2) {
        this.deps.redraw();
        return;
      }
      dispatch({ type: "prompt.box", box: [Math.round(x0), Math.round(y0), Math.round(x1), Math.round(y1)] });
    }
    if (d.kind === "stroke") dispatch({ type: "stroke.end" });
  }

  leave(): void {
    this.deps.state.pointer = null;
    this.deps.hover?.();
    this.deps.redraw();
  }

  wheel(ev: WheelLike): void {
    ev.preventDefault();
    if (ev.ctrlKey || ev.metaKey) {
      const [sx, sy] = this.deps.surface.local(ev.clientX, ev.clientY);
      this.deps.dispatch({ type: "zoom", sx, sy, factor: wheelZoomFactor(ev.deltaY) });
    } else if (ev.altKey && Math.abs(ev.deltaY) > 0) {
      this.deps.dispatch({ type: "action", action: ev.deltaY < 0 ? "brush.larger" : "brush.smaller" });
    } else if (Math.abs(ev.deltaY) > 0) {
      this.deps.dispatch({ type: "slice.go", index: this.deps.state.slice + Math.sign(ev.deltaY) });
    }
  }

  keyDown(ev: KeyEventLike): void {
    if (typingInto(ev.target)) return;
    if (ev.key === " ") {
      this.spaceHeld = true;
      ev.preventDefault();
      return;
    }
    const action = actionForKey(ev);
    if (!action) return;
    // While the help is open the arrow and page keys scroll it; only ? / H and Esc reach the viewer.
    if (this.deps.state.helpOpen && action !== "help" && action !== "discard") return;
    ev.preventDefault();
    this.deps.dispatch({ type: "action", action });
  }

  keyUp(ev: KeyLike): void {
    if (ev.key === " ") this.spaceHeld = false;
  }
}

/** Connect a ViewerInput to the page: pointer and wheel events of the prompt canvas, keys of the window. */
export function bindInput(canvas: HTMLCanvasElement, stage: HTMLElement, win: Window, make: (surface: InputSurface) => ViewerInput): ViewerInput {
  const input = make({
    local: (clientX, clientY) => {
      const rect = canvas.getBoundingClientRect();
      return [clientX - rect.left, clientY - rect.top];
    },
    capture: (id) => canvas.setPointerCapture(id),
    release: (id) => {
      if (canvas.hasPointerCapture(id)) canvas.releasePointerCapture(id);
    },
    focus: () => stage.focus(),
  });
  canvas.addEventListener("contextmenu", (ev) => ev.preventDefault());
  canvas.addEventListener("pointerdown", (ev) => input.down(ev));
  canvas.addEventListener("pointermove", (ev) => input.move(ev));
  canvas.addEventListener("pointerup", (ev) => input.up(ev));
  canvas.addEventListener("pointercancel", (ev) => input.up(ev));
  canvas.addEventListener("pointerleave", () => input.leave());
  canvas.addEventListener("wheel", (ev) => input.wheel(ev), { passive: false });
  win.addEventListener("keydown", (ev) => input.keyDown(ev));
  win.addEventListener("keyup", (ev) => input.keyUp(ev));
  return input;
}
