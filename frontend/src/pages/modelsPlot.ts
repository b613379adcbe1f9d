/**
 * Small SVG line plots for the model versions page (no plotting library): the training loss by step, and
 * held-out Dice per corrective click, one line per version. Scales are pure functions, tested on their own.
 */

const SVG = "http://www.w3.org/2000/svg";

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

export interface Frame {
  width: number;
  height: number;
  pad: number;
}

export interface Extent {
  x: [number, number];
  y: [number, number];
}

/** The data's extent, widened so a single point or a flat line still has a visible range. */
export function extent(series: Series[], yFloor?: number, yCeil?: number): Extent {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (yFloor !== undefined) y0 = Math.min(y0, yFloor);
  if (yCeil !== undefined) y1 = Math.max(y1, yCeil);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  return { x: [x0, x1], y: [y0, y1] };
}

/** Data point → SVG pixel (y grows downwards). */
export function project(point: [number, number], e: Extent, f: Frame): [number, number] {
  const sx = f.pad + ((point[0] - e.x[0]) / (e.x[1] - e.x[0])) * (f.width - 2 * f.pad);
  const sy = f.height - f.pad - ((point[1] - e.y[0]) / (e.y[1] - e.y[0])) * (f.height - 2 * f.pad);
  return [Math.round(sx * 10) / 10, Math.round(sy * 10) / 10];
}

export function pathOf(points: [number, number][], e: Extent, f: Frame): string {
  return points.map((p, i) => `${i ? "L" : "M"}${project(p, e, f).join(",")}`).join(" ");
}

function el(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function text(x: number, y: number, content: string, anchor = "start"): SVGElement {
  const node = el("text", { x, y, "font-size": 11, fill: "#555", "text-anchor": anchor });
  node.textContent = content;
  return node;
}

/** Draw ``series`` into ``svg`` (replacing what it held), with axis labels and a legend. */
export function drawLines(
  svg: SVGSVGElement,
  series: Series[],
  labels: { x: string; y: string },
  options: { yFloor?: number; yCeil?: number; dots?: boolean } = {},
): void {
  const f: Frame = { width: Number(svg.getAttribute("width")) || 480, height: Number(svg.getAttribute("height")) || 220, pad: 34 };
  const e = extent(series, options.yFloor, options.yCeil);
  svg.replaceChildren();
  svg.appendChild(el("rect", { x: f.pad, y: f.pad, width: f.width - 2 * f.pad, height: f.height - 2 * f.pad, fill: "none", stroke: "#ccd" }));
  svg.appendChild(text(f.pad, f.height - 8, `${labels.x}: ${fmt(e.x[0])} – ${fmt(e.x[1])}`));
  svg.appendChild(text(4, 14, `${labels.y}: ${fmt(e.y[0])} – ${fmt(e.y[1])}`));
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const line = el("path", { d: pathOf(s.points, e, f), fill: "none", stroke: s.color, "stroke-width": 1.6, "data-series": s.name });
    svg.appendChild(line);
    if (options.dots) {
      for (const p of s.points) {
        const [cx, cy] = project(p, e, f);
        svg.appendChild(el("circle", { cx, cy, r: 2.5, fill: s.color }));
      }
    }
    svg.appendChild(text(f.width - f.pad, f.pad + 12 + 13 * i, s.name, "end")).setAttribute("fill", s.color);
  });
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(3);
}

export function svgPlot(className: string, width = 480, height = 220): SVGSVGElement {
  return el("svg", { class: className, width, height, viewBox: `0 0 ${width} ${height}`, role: "img" }) as SVGSVGElement;
}

const PALETTE = ["#4363d8", "#e6194b", "#3cb44b", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#808000"];

export function colorOf(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}
