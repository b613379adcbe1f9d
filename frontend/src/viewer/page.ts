/**
 * The viewer page (data-page="viewer"): lay the page out, load the project and the series, then build
 * the controller with the real screen, socket and input, and publish the test probe once the saved masks
 * and the first slice are in.
 */

import { Api } from "../api";
import { endpoints, type ProjectInfo, type SeriesInfo } from "../endpoints";
import type { PageContext } from "../pageContext";
import { AnnotatorSocket, socketUrl } from "../socket";
import { teamEndpoints, type CaseInfo } from "../team";
import { ViewerController, type SocketHandlers } from "./controller";
import { bindInput, ViewerInput } from "./input";
import { buildLayout } from "./layout";
import { showPointsHelp } from "./panels/status";
import { countOpaque, imageToClient, installProbe, recordPerf, viewerProbe } from "./probe";
import { ReviewScreen } from "./reviewScreen";
import { ViewerScreen } from "./screen";
import { createViewerState } from "./state";
import { mountViewerTiming } from "../timing/viewerTiming";

export function mount(ctx: PageContext): void {
  open(ctx).catch((error) => ctx.banner.error(error, "Opening the series"));
}

async function open(ctx: PageContext): Promise<ViewerController> {
  const api = new Api();
  const layout = buildLayout(ctx);
  const [project, series] = await Promise.all([
    api.get<ProjectInfo>(endpoints.project(ctx.projectId!)),
    api.get<SeriesInfo>(endpoints.series(ctx.seriesId!)),
  ]);
  layout.showTitles(project, series);
  const assignmentId = assignmentFromUrl(window.location.search);
  // Someone else's case is opened for review: read-only, owners included (review.ts loads the rest).
  const opened = assignmentId === null ? null : await api.get<CaseInfo>(teamEndpoints.caseOf(assignmentId)).catch(() => null);
  showPointsHelp(layout.help, project.model);
  const state = createViewerState({
    project,
    series,
    username: ctx.username,
    role: ctx.role,
    assignmentId,
    reviewing: opened !== null && opened.assignment.username !== ctx.username,
  });
  // The screen's controls dispatch on the controller's bus, made just below (they are not used before).
  const screen: ViewerScreen = new ViewerScreen(
    layout,
    state,
    (command) => viewer.bus.dispatch(command),
    (raw) => viewer.slices.presets(raw),
    {
      marks: () => viewer.annotations.marks(state.plane),
      readout: () => viewer.readout.text(),
      cached: (plane, index) => viewer.sources.of(plane).cached(index),
      load: (plane, index) => viewer.sources.of(plane).get(index),
    },
  );
  const socket = (handlers: SocketHandlers) => new AnnotatorSocket({ url: socketUrl(window.location), ...handlers });
  const reviewScreen = new ReviewScreen(state, (command) => viewer.bus.dispatch(command), screen.renderer);
  layout.labels.parentElement?.append(reviewScreen.element);
  const review = { view: reviewScreen, navigate: (url: string) => window.location.assign(url) };
  const viewer: ViewerController = new ViewerController(state, { api, notify: ctx.banner, socket, review }, screen);
  const perf = recordPerf(viewer.bus);
  new ResizeObserver(() => screen.renderer.resize()).observe(layout.stage);
  bindInput(layout.canvases.prompt, layout.stage, window, (surface) =>
    new ViewerInput({
      state,
      surface,
      dispatch: viewer.bus.dispatch,
      redraw: () => screen.redraw(),
      warn: (text) => ctx.banner.show(text, "warn"),
      currentSlice: () => viewer.slices.current(),
      hover: () => screen.readout(),
    }),
  );
  // Annotation time (frontend/src/timing/): the interaction log listens on the bus; focus, blur and the tab's
  // visibility become commands on it; pagehide beacons what is not sent yet.
  const timing = mountViewerTiming({
    api,
    viewer,
    state,
    statusbar: layout.status.connection.parentElement!,
    side: layout.labels.parentElement!,
    toolbar: layout.toolbar,
    notify: ctx.banner,
  });
  window.addEventListener("focus", () => viewer.bus.dispatch({ type: "page.focus" }));
  window.addEventListener("blur", () => viewer.bus.dispatch({ type: "page.blur" }));
  document.addEventListener("visibilitychange", () =>
    viewer.bus.dispatch({ type: "page.visibility", visible: document.visibilityState === "visible" }),
  );
  window.addEventListener("pagehide", () => timing.pageHide());
  const autosave = viewer.sync.autosave;
  window.addEventListener("beforeunload", (ev) => {
    if (autosave.hasUnsaved) {
      void autosave.flush();
      ev.preventDefault();
    }
  });
  await viewer.start();
  const { prompt, mask } = layout.canvases;
  installProbe(
    window,
    viewerProbe({
      state,
      perf,
      imageToScreen: (x, y) => imageToClient(state.viewport, prompt.getBoundingClientRect(), x, y),
      overlayPixels: () => countOpaque(screen.renderer.overlay.data),
      screenMaskPixels: () => countOpaque(mask.getContext("2d")!.getImageData(0, 0, mask.width, mask.height).data),
      hasUnsaved: () => autosave.hasUnsaved,
      planes: {
        marks: () => viewer.annotations.marks(state.plane),
        readout: () => layout.readout.textContent ?? "",
        annotatedTitle: () => layout.sliceBar.annotated.title,
      },
    }),
    viewer,
  );
  return viewer;
}

/** The task assignment named by the page's `?assignment=` (opened from a task list), or null. */
export function assignmentFromUrl(search: string): number | null {
  const value = new URLSearchParams(search).get("assignment");
  return value && /^\d+$/.test(value) ? Number(value) : null;
}
