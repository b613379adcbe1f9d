/**
 * The plane switcher and the two small views linked to the main one (what radiology viewers do): each shows
 * one of the other planes through the crosshair point, with the masks and the crosshair drawn over it. A
 * click moves the crosshair there (the main view follows along its own plane); a double-click makes that
 * plane the main one. The small views draw at most once per animation frame and not while a brush stroke
 * is painted (they catch up when it ends).
 */

import { clear, h } from "../ui/dom";
import type { Dispatch } from "./bus";
import { composite } from "./maskLayer";
import { crosshairAt, indexOf, PLANES, planeName, type Plane, type PlaneGrid } from "./planes";
import { labelLayers } from "./rendering";
import type { RawSlice } from "./sliceSource";
import type { ViewerState } from "./state";
import { applyWindow } from "./windowing";

export interface PlaneViewsDeps {
  state: ViewerState;
  dispatch: Dispatch;
  /** a plane's slice as shown (square pixels): cached, or fetched */
  cached(plane: Plane, index: number): RawSlice | undefined;
  load(plane: Plane, index: number): Promise<RawSlice>;
}

/** Where a `grid`'s display image sits in a canvas of `width` × `height`: scale and offset (fit, centred). */
export function fitIn(grid: PlaneGrid, width: number, height: number): { scale: number; x: number; y: number } {
  const scale = Math.min(width / grid.displayCols, height / grid.displayRows);
  return { scale, x: (width - grid.displayCols * scale) / 2, y: (height - grid.displayRows * scale) / 2 };
}

/** The two planes the small views show: the ones not in the main view, in axial, coronal, sagittal order. */
export function otherPlanes(state: Pick<ViewerState, "plane" | "planes">): Plane[] {
  return PLANES.filter((p) => p !== state.plane && state.planes[p]);
}

interface SmallView {
  box: HTMLElement;
  canvas: HTMLCanvasElement;
  name: HTMLElement;
  plane: Plane | null;
  /** the windowed image last drawn, kept while its slice and window stay (scrolling the main view moves only the crosshair) */
  image: { key: string; canvas: HTMLCanvasElement } | null;
}

export class PlaneViews {
  private readonly buttons = new Map<Plane, HTMLButtonElement>();
  private readonly views: SmallView[] = [];
  private queued = false;

  constructor(
    readonly element: HTMLElement,
    private readonly deps: PlaneViewsDeps,
  ) {
    clear(element);
    const { state, dispatch } = deps;
    const available = PLANES.filter((p) => state.planes[p]);
    element.hidden = available.length < 2;
    const switcher = h("div", { class: "plane-switch", role: "group", "aria-label": "Plane" });
    for (const plane of available) {
      const key = plane[0]!.toUpperCase();
      const button = h("button", { type: "button", "data-plane": plane, title: `${planeName(plane)} plane in the main view (${key})` }, planeName(plane));
      button.addEventListener("click", () => dispatch({ type: "plane.select", plane }));
      this.buttons.set(plane, button);
      switcher.append(button);
    }
    const list = h("div", { class: "plane-views" });
    for (let k = 0; k < 2 && available.length > 1; k++) {
      const canvas = h("canvas", {});
      const name = h("span", { class: "plane-name" });
      const box = h("div", { class: "plane-view", title: "Click: move the crosshair here. Double-click: show this plane in the main view." }, canvas, name);
      const view: SmallView = { box, canvas, name, plane: null, image: null };
      canvas.addEventListener("click", (ev) => this.click(view, ev));
      canvas.addEventListener("dblclick", () => view.plane && dispatch({ type: "plane.select", plane: view.plane }));
      this.views.push(view);
      list.append(box);
    }
    element.append(switcher, list);
  }

  /** The main plane changed: highlight it and give the small views the other two. */
  render(): void {
    const { state } = this.deps;
    for (const [plane, button] of this.buttons) button.classList.toggle("active", plane === state.plane);
    const others = otherPlanes(state);
    this.views.forEach((view, k) => {
      view.plane = others[k] ?? null;
      view.box.hidden = view.plane === null;
      view.box.dataset.plane = view.plane ?? "";
      view.name.textContent = view.plane ? planeName(view.plane) : "";
    });
    this.refresh();
  }

  /** Redraw the small views on the next frame (once however often it is asked). */
  refresh(): void {
    if (this.queued || this.element.hidden) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      if (this.deps.state.stroke) return;
      for (const view of this.views) this.draw(view);
    });
  }

  private click(view: SmallView, ev: MouseEvent): void {
    const grid = view.plane ? this.deps.state.planes[view.plane] : undefined;
    if (!grid || !view.plane) return;
    const rect = view.canvas.getBoundingClientRect();
    const fit = fitIn(grid, rect.width, rect.height);
    const x = (ev.clientX - rect.left - fit.x) / fit.scale;
    const y = (ev.clientY - rect.top - fit.y) / fit.scale;
    if (x < 0 || y < 0 || x >= grid.displayCols || y >= grid.displayRows) return;
    this.deps.dispatch({ type: "crosshair.point", plane: view.plane, x, y });
  }

  private draw(view: SmallView): void {
    const { state } = this.deps;
    const plane = view.plane;
    const grid = plane ? state.planes[plane] : undefined;
    if (!plane || !grid) return;
    const index = indexOf(plane, state.cursor);
    const raw = this.deps.cached(plane, index);
    if (!raw) {
      this.deps.load(plane, index).then(() => this.refresh(), () => {});
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    const rect = view.canvas.getBoundingClientRect();
    view.canvas.width = Math.max(1, Math.round(rect.width * dpr));
    view.canvas.height = Math.max(1, Math.round(rect.height * dpr));
    const ctx = view.canvas.getContext("2d");
    if (!ctx) return;
    const key = `${plane}:${index}:${state.window.level}:${state.window.width}`;
    if (view.image?.key !== key) {
      const image = new ImageData(grid.displayCols, grid.displayRows);
      applyWindow(raw.values, state.window, image.data);
      view.image = { key, canvas: bitmapOf(image) };
    }
    const overlay = new ImageData(grid.displayCols, grid.displayRows);
    composite(labelLayers(state, grid, index), state.masksVisible ? state.opacity : 0, overlay.data, grid.displayCols);
    const fit = fitIn(grid, rect.width, rect.height);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, view.canvas.width, view.canvas.height);
    ctx.setTransform(fit.scale * dpr, 0, 0, fit.scale * dpr, fit.x * dpr, fit.y * dpr);
    ctx.imageSmoothingEnabled = fit.scale < 1;
    ctx.drawImage(view.image.canvas, 0, 0);
    ctx.drawImage(bitmapOf(overlay), 0, 0);
    if (state.crosshairVisible) {
      const { x, y } = crosshairAt(grid, state.geometry.depth, state.cursor);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.strokeStyle = "rgba(255, 202, 40, 0.8)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(fit.x + x * fit.scale, fit.y);
      ctx.lineTo(fit.x + x * fit.scale, fit.y + grid.displayRows * fit.scale);
      ctx.moveTo(fit.x, fit.y + y * fit.scale);
      ctx.lineTo(fit.x + grid.displayCols * fit.scale, fit.y + y * fit.scale);
      ctx.stroke();
    }
    view.name.textContent = `${planeName(plane)} ${index + 1} / ${grid.depth}`;
  }
}

/** An ImageData as a canvas drawImage can scale (putImageData ignores the transform). */
function bitmapOf(data: ImageData): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.width = data.width;
  canvas.height = data.height;
  canvas.getContext("2d")!.putImageData(data, 0, 0);
  return canvas;
}
