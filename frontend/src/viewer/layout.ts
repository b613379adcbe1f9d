/**
 * The viewer page's elements, laid out before anything is loaded (so a failure to load shows its message
 * in place): header with breadcrumbs, toolbar, the stage with its three canvases, the slice bar, the side
 * panels and the status line.
 */

import type { ProjectInfo, SeriesInfo } from "../endpoints";
import type { PageContext } from "../pageContext";
import { header } from "../ui/chrome";
import { h } from "../ui/dom";
import { SliceBar } from "./panels/sliceBar";
import { buildHelp, StatusLine } from "./panels/status";

export interface ViewerLayout {
  stage: HTMLElement;
  canvases: { image: HTMLCanvasElement; mask: HTMLCanvasElement; prompt: HTMLCanvasElement };
  toolbar: HTMLElement;
  sliceBar: SliceBar;
  labels: HTMLElement;
  candidates: HTMLElement;
  job: HTMLElement;
  windowPresets: HTMLElement;
  presence: HTMLElement;
  status: StatusLine;
  help: HTMLElement;
  /** the plane switcher and the small linked views (side panel), and the hover readout (over the image) */
  planes: HTMLElement;
  readout: HTMLElement;
  /** Name the project and the series in the breadcrumbs and the document title. */
  showTitles(project: ProjectInfo, series: SeriesInfo): void;
}

export function buildLayout(ctx: PageContext): ViewerLayout {
  const crumbs = [{ text: "Project", href: `/projects/${ctx.projectId}/` }, { text: "Series" }];
  const head = header(ctx.username, crumbs);
  const layout: ViewerLayout = {
    stage: h("div", { class: "stage", tabindex: 0 }),
    canvases: {
      image: h("canvas", { class: "layer layer-image" }),
      mask: h("canvas", { class: "layer layer-mask" }),
      prompt: h("canvas", { class: "layer layer-prompt" }),
    },
    toolbar: h("div", { class: "toolbar", role: "toolbar" }),
    sliceBar: new SliceBar(),
    labels: h("div", { class: "label-list" }),
    candidates: h("div", { class: "candidates" }),
    job: h("div", { class: "job" }),
    windowPresets: h("div", { class: "window-presets" }),
    presence: h("div", { class: "presence" }),
    status: new StatusLine(),
    help: buildHelp(),
    planes: h("section", { class: "planes" }),
    readout: h("div", { class: "readout", "aria-live": "off" }),
    showTitles(project, series) {
      head.querySelector(".crumbs a")!.textContent = project.name;
      document.title = `${series.description || series.modality} · ${project.name} · Delineate`;
      head.querySelector(".crumbs span:last-child")!.textContent = series.description || `${series.modality} series`;
    },
  };
  const { stage, canvases, status } = layout;
  stage.append(canvases.image, canvases.mask, canvases.prompt, layout.readout, layout.help);
  // Messages float over the top of the image, below the toolbar: fixed under the page header they hid the
  // toolbar's Accept / Undo buttons (seen in the end-to-end screenshots).
  stage.append(ctx.banner.element);
  ctx.root.append(
    head,
    h(
      "div",
      { class: "viewer" },
      h("div", { class: "viewer-main" }, layout.toolbar, stage, layout.sliceBar.element),
      h(
        "aside",
        { class: "viewer-side" },
        layout.planes,
        h("h3", {}, "Labels"),
        layout.labels,
        h("h3", {}, "Mask"),
        layout.candidates,
        layout.job,
        h("h3", {}, "Window"),
        layout.windowPresets,
        h("h3", {}, "Here now"),
        layout.presence,
      ),
    ),
    h("footer", { class: "statusbar" }, status.connection, status.save, status.hint),
  );
  return layout;
}
