/**
 * The screen: the canvases (rendering.ts) and the panels, behind the `ViewerView` interface the parts
 * call. It reads the state and sends what the user does with its controls to `dispatch`; it changes no
 * state itself.
 */

import type { WindowPresetInfo } from "../endpoints";
import type { SocketStatus } from "../socket";
import type { AutosaveState } from "./autosave";
import type { Dispatch } from "./bus";
import type { ViewerLayout } from "./layout";
import type { Rect } from "./maskLayer";
import { renderCandidates } from "./panels/candidates";
import { JobBox, propagationBusy } from "./panels/job";
import { renderLabels } from "./panels/labels";
import { renderPresence } from "./panels/presence";
import { Toolbar } from "./panels/toolbar";
import { renderWindowPresets, renderWindowReadout } from "./panels/windowPresets";
import type { SliceMarks } from "./annotations";
import type { Plane } from "./planes";
import { PlaneViews } from "./planeViews";
import { Renderer } from "./rendering";
import type { RawSlice } from "./sliceSource";
import { currentGrid, type ViewerState } from "./state";
import type { ViewerView } from "./view";

/** What the screen shows of the planes, asked of the controller's parts (page.ts wires them). */
export interface ScreenPlanes {
  /** the slices of the plane shown that hold a mask, per visible label */
  marks(): SliceMarks[];
  /** the hover readout's line */
  readout(): string;
  /** a plane's slice as shown: cached, or fetched */
  cached(plane: Plane, index: number): RawSlice | undefined;
  load(plane: Plane, index: number): Promise<RawSlice>;
}

export class ViewerScreen implements ViewerView {
  readonly renderer: Renderer;
  private readonly toolbar: Toolbar;
  private readonly jobBox: JobBox;
  private readonly planeViews: PlaneViews | null;

  constructor(
    private readonly layout: ViewerLayout,
    private readonly state: ViewerState,
    private readonly dispatch: Dispatch,
    /** the window presets offered for a slice (the cached current one when not given) */
    private readonly presets: (raw?: RawSlice) => WindowPresetInfo[],
    private readonly planes?: ScreenPlanes,
  ) {
    this.renderer = new Renderer({ stage: layout.stage, ...layout.canvases }, state);
    this.toolbar = new Toolbar(layout.toolbar, state, dispatch);
    this.jobBox = new JobBox(layout.job, dispatch);
    layout.help.querySelector(".help-close")?.addEventListener("click", () => dispatch({ type: "action", action: "help" }));
    layout.sliceBar.setDepth(currentGrid(state).depth);
    layout.sliceBar.listen(dispatch);
    this.planeViews = planes ? new PlaneViews(layout.planes, { state, dispatch, cached: planes.cached, load: planes.load }) : null;
    this.planeViews?.render();
  }

  image(raw: RawSlice | undefined): void {
    this.renderer.image(raw);
    this.planeViews?.refresh(); // the display window applies to them too
    if (this.state.pointer) this.readout(); // a slice that arrived under a resting mouse
  }

  mask(rect?: Rect | null): void {
    this.renderer.mask(rect);
    this.planeViews?.refresh();
  }

  redraw(): void {
    this.renderer.redraw();
  }

  candidates(): void {
    renderCandidates(this.layout.candidates, this.state, this.dispatch);
    this.toolbar.showAccept(this.state.candidate !== null && !this.state.readOnly);
  }

  job(): void {
    this.toolbar.showPropagation(!this.state.readOnly && !propagationBusy(this.state));
    this.jobBox.render(this.state);
  }

  labels(): void {
    renderLabels(this.layout.labels, this.state, this.dispatch);
  }

  presence(): void {
    renderPresence(this.layout.presence, this.state.presence, this.state.username, this.dispatch);
  }

  slices(): void {
    const { slice, ready, plane } = this.state;
    this.layout.sliceBar.render({ slice, ready, plane, depth: currentGrid(this.state).depth, marks: this.planes?.marks() ?? [] });
    this.readout(); // the mouse may rest while the slice under it changes
  }

  windowPresets(raw?: RawSlice): void {
    const { geometry, window, windowName } = this.state;
    renderWindowPresets(this.layout.windowPresets, { channels: geometry.channels, presets: this.presets(raw), window, windowName }, this.dispatch);
  }

  windowReadout(): void {
    renderWindowReadout(this.layout.windowPresets, this.state.window);
  }

  historyButtons(): void {
    this.toolbar.showHistory(this.state.history.canUndo, this.state.history.canRedo);
    // Every recorded edit passes here: the small views catch up (they skip frames during a stroke).
    this.planeViews?.refresh();
  }

  tool(): void {
    this.toolbar.showTool(this.state.tool);
    this.layout.stage.dataset.tool = this.state.tool;
    this.renderer.redraw();
  }

  brush(): void {
    this.toolbar.showBrush(this.state.brushRadius);
    this.renderer.redraw();
  }

  help(): void {
    const { help, stage } = this.layout;
    help.hidden = !this.state.helpOpen;
    // Focus goes to the overlay so the arrow and page keys scroll it, and back to the image when it closes.
    (this.state.helpOpen ? help : stage).focus({ preventScroll: true });
  }

  hint(text: string): void {
    this.layout.status.showHint(text);
  }

  saveState(state: AutosaveState): void {
    this.layout.status.showSave(state);
  }

  connection(status: SocketStatus): void {
    this.layout.status.showConnection(status);
  }

  plane(): void {
    this.renderer.setPlane();
    this.layout.sliceBar.setDepth(currentGrid(this.state).depth);
    this.layout.stage.dataset.plane = this.state.plane;
    this.planeViews?.render();
    this.slices();
  }

  crosshair(): void {
    this.renderer.redraw();
    this.planeViews?.refresh();
  }

  readout(): void {
    this.layout.readout.textContent = this.planes?.readout() ?? "";
  }
}
