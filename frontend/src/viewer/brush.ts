/**
 * Manual editing on a binary slice mask: disc stamps along a stroke (brush writes 1, eraser writes 0) and
 * flood fill. Every operation returns the rectangle it may have changed (or null), which is all the overlay
 * needs to recomposite and all the history needs to diff.
 */

import type { Rect } from "./maskLayer";

export interface Point {
  x: number;
  y: number;
}

/**
 * Write `value` into every pixel whose centre lies within `radius` of (cx, cy). Coordinates and radius are
 * display pixels; a mask pixel spans `sx` × `sy` of them (a coronal or sagittal plane's voxels are taller
 * than wide on screen), so the disc is round on the screen and covers the voxels whose centres it holds.
 */
export function stampDisc(
  mask: Uint8Array,
  width: number,
  height: number,
  cx: number,
  cy: number,
  radius: number,
  value: 0 | 1,
  sx = 1,
  sy = 1,
): Rect | null {
  const r = Math.max(0.5, radius);
  // rows whose centre (y + 0.5) * sy lies within [cy - r, cy + r]
  const y0 = Math.max(0, Math.ceil((cy - r) / sy - 0.5));
  const y1 = Math.min(height, Math.floor((cy + r) / sy - 0.5) + 1);
  if (y0 >= y1) return null;
  const r2 = r * r;
  let touched: Rect | null = null;
  for (let y = y0; y < y1; y++) {
    const dy = (y + 0.5) * sy - cy;
    const dy2 = dy * dy;
    if (dy2 > r2) continue;
    const half = Math.sqrt(r2 - dy2);
    // pixels whose centre (x + 0.5) * sx lies within [cx - half, cx + half]
    const xs = Math.max(0, Math.ceil((cx - half) / sx - 0.5));
    const xe = Math.min(width - 1, Math.floor((cx + half) / sx - 0.5));
    if (xs > xe) continue;
    mask.fill(value, y * width + xs, y * width + xe + 1);
    if (!touched) touched = { x0: xs, y0: y, x1: xe + 1, y1: y + 1 };
    else {
      touched.x0 = Math.min(touched.x0, xs);
      touched.x1 = Math.max(touched.x1, xe + 1);
      touched.y1 = y + 1;
    }
  }
  return touched;
}

/**
 * Stamp discs from `from` to `to` at most a quarter radius apart (at least every pixel), so a fast mouse
 * leaves a continuous band instead of beads. The disc at `from` is included; callers stamp the first point
 * of a stroke with `stampDisc` and then call this for each mouse move.
 */
export function strokeSegment(
  mask: Uint8Array,
  width: number,
  height: number,
  from: Point,
  to: Point,
  radius: number,
  value: 0 | 1,
  sx = 1,
  sy = 1,
): Rect | null {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const distance = Math.hypot(dx, dy);
  const spacing = Math.max(0.5, Math.min(1, radius / 4));
  const steps = Math.max(1, Math.ceil(distance / spacing));
  let dirty: Rect | null = null;
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    const rect = stampDisc(mask, width, height, from.x + dx * t, from.y + dy * t, radius, value, sx, sy);
    if (rect) {
      dirty = dirty
        ? { x0: Math.min(dirty.x0, rect.x0), y0: Math.min(dirty.y0, rect.y0), x1: Math.max(dirty.x1, rect.x1), y1: Math.max(dirty.y1, rect.y1) }
        : rect;
    }
  }
  return dirty;
}

/**
 * Flood fill the 4-connected region of pixels equal to the one at (x, y) with `value` (scanline fill, so a
 * 2048² region needs no recursion). Filling inside a closed outline fills the hole; filling a region already
 * of `value` changes nothing and returns null.
 */
export function floodFill(mask: Uint8Array, width: number, height: number, x: number, y: number, value: 0 | 1): Rect | null {
  const sx = Math.floor(x);
  const sy = Math.floor(y);
  if (sx < 0 || sy < 0 || sx >= width || sy >= height) return null;
  const target = mask[sy * width + sx];
  if (target === value) return null;
  const rect: Rect = { x0: sx, y0: sy, x1: sx + 1, y1: sy + 1 };
  const stack: number[] = [sx, sy];
  while (stack.length) {
    const cy = stack.pop()!;
    const cx = stack.pop()!;
    const row = cy * width;
    if (mask[row + cx] !== target) continue;
    let left = cx;
    while (left > 0 && mask[row + left - 1] === target) left--;
    let right = cx;
    while (right < width - 1 && mask[row + right + 1] === target) right++;
    mask.fill(value, row + left, row + right + 1);
    rect.x0 = Math.min(rect.x0, left);
    rect.x1 = Math.max(rect.x1, right + 1);
    rect.y0 = Math.min(rect.y0, cy);
    rect.y1 = Math.max(rect.y1, cy + 1);
    for (const ny of [cy - 1, cy + 1]) {
      if (ny < 0 || ny >= height) continue;
      const nrow = ny * width;
      let inRun = false;
      for (let nx = left; nx <= right; nx++) {
        const match = mask[nrow + nx] === target;
        if (match && !inRun) stack.push(nx, ny);
        inRun = match;
      }
    }
  }
  return rect;
}
