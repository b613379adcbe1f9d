/**
 * Run-length encoding of binary masks, exactly as docs/protocol.md (and annotator/rle.py) define it:
 * `{"size": [H, W], "counts": [...]}` are the lengths of alternating runs of 0 and 1 over the pixels in
 * row-major order, starting with a run of zeros (possibly of length 0); the counts sum to H * W.
 */

export interface Rle {
  size: [number, number];
  counts: number[];
}

export class RleError extends Error {
  override name = "RleError";
}

/** Encode a row-major mask of `height * width` pixels; any non-zero byte counts as 1. */
export function encode(mask: Uint8Array, height: number, width: number): Rle {
  if (mask.length !== height * width) {
    throw new RleError(`mask has ${mask.length} pixels, expected ${height}×${width}`);
  }
  const counts: number[] = [];
  let current = 0; // runs start with zeros
  let run = 0;
  for (let i = 0; i < mask.length; i++) {
    const bit = mask[i] !== 0 ? 1 : 0;
    if (bit !== current) {
      counts.push(run);
      current = bit;
      run = 0;
    }
    run++;
  }
  counts.push(run);
  return { size: [height, width], counts };
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/**
 * Decode into a fresh 0/1 Uint8Array, or into `target` (written with `value` where the mask is 1 and left
 * untouched elsewhere, so several labels can share one buffer). Malformed input throws RleError.
 */
export function decode(rle: unknown, expected?: [number, number], target?: Uint8Array, value = 1): Uint8Array {
  if (typeof rle !== "object" || rle === null || !("size" in rle) || !("counts" in rle)) {
    throw new RleError("A mask must be {size: [H, W], counts: [...]}.");
  }
  const { size, counts } = rle as { size: unknown; counts: unknown };
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => isCount(v) && v > 0)) {
    throw new RleError("A mask's size must be two positive integers [H, W].");
  }
  const [height, width] = size as [number, number];
  if (expected && (expected[0] !== height || expected[1] !== width)) {
    throw new RleError(`The mask is ${height}×${width} but the image is ${expected[0]}×${expected[1]}.`);
  }
  if (!Array.isArray(counts) || !counts.every(isCount)) {
    throw new RleError("A mask's counts must be non-negative integers.");
  }
  const total = height * width;
  let sum = 0;
  for (const c of counts as number[]) sum += c;
  if (sum !== total) throw new RleError(`The mask's runs cover ${sum} pixels, not ${total}.`);
  const out = target ?? new Uint8Array(total);
  if (out.length !== total) throw new RleError(`target has ${out.length} pixels, expected ${total}`);
  let pos = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] as number;
    if (i % 2 === 1) out.fill(value, pos, pos + n);
    else if (!target) out.fill(0, pos, pos + n);
    pos += n;
  }
  return out;
}

/** Number of foreground pixels, without decoding. */
export function area(rle: Rle): number {
  let sum = 0;
  for (let i = 1; i < rle.counts.length; i += 2) sum += rle.counts[i]!;
  return sum;
}
