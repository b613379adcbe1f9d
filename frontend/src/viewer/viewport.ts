/**
 * Zoom and pan: screen = image * scale + offset (CSS pixels of the canvas stack). Pure state; the viewer
 * hands `matrix()` to each canvas's setTransform and converts pointer positions with `toImage`.
 */

export interface Size {
  width: number;
  height: number;
}

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 64;

export class Viewport {
  scale = 1;
  offsetX = 0;
  offsetY = 0;

  constructor(
    public image: Size,
    public screen: Size,
  ) {
    this.fit();
  }

  /** Show the whole image, centred, as large as the screen allows. */
  fit(): void {
    const s = Math.min(this.screen.width / this.image.width, this.screen.height / this.image.height);
    this.scale = clamp(Number.isFinite(s) && s > 0 ? s : 1, MIN_SCALE, MAX_SCALE);
    this.offsetX = (this.screen.width - this.image.width * this.scale) / 2;
    this.offsetY = (this.screen.height - this.image.height * this.scale) / 2;
  }

  resize(screen: Size): void {
    // keep the image point at the centre of the screen where it was
    const [cx, cy] = this.toImage(this.screen.width / 2, this.screen.height / 2);
    this.screen = screen;
    this.offsetX = screen.width / 2 - cx * this.scale;
    this.offsetY = screen.height / 2 - cy * this.scale;
  }

  toImage(sx: number, sy: number): [number, number] {
    return [(sx - this.offsetX) / this.scale, (sy - this.offsetY) / this.scale];
  }

  toScreen(ix: number, iy: number): [number, number] {
    return [ix * this.scale + this.offsetX, iy * this.scale + this.offsetY];
  }

  /** Zoom by `factor` keeping the image point under (sx, sy) fixed on the screen. */
  zoomAt(sx: number, sy: number, factor: number): void {
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = clamp(this.scale * factor, MIN_SCALE, MAX_SCALE);
    this.offsetX = sx - ix * this.scale;
    this.offsetY = sy - iy * this.scale;
  }

  panBy(dx: number, dy: number): void {
    this.offsetX += dx;
    this.offsetY += dy;
  }

  /** [a, b, c, d, e, f] for CanvasRenderingContext2D.setTransform (times the device pixel ratio). */
  matrix(devicePixelRatio = 1): [number, number, number, number, number, number] {
    const s = this.scale * devicePixelRatio;
    return [s, 0, 0, s, this.offsetX * devicePixelRatio, this.offsetY * devicePixelRatio];
  }

  /** Whether image point (ix, iy) is inside the image. */
  contains(ix: number, iy: number): boolean {
    return ix >= 0 && iy >= 0 && ix < this.image.width && iy < this.image.height;
  }
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Wheel delta (pixels) to a zoom factor: one notch (~100 px) zooms by about 12%. */
export function wheelZoomFactor(deltaY: number): number {
  return Math.exp(-deltaY * 0.00115);
}
