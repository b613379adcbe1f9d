import { describe, expect, it } from "vitest";
import { area, decode, encode, RleError } from "./rle";

describe("rle", () => {
  it("encodes row-major runs starting with zeros", () => {
    // 2×3: row 0 = 0 1 1, row 1 = 1 0 0
    const mask = Uint8Array.from([0, 1, 1, 1, 0, 0]);
    expect(encode(mask, 2, 3)).toEqual({ size: [2, 3], counts: [1, 3, 2] });
  });

  it("starts with an empty zero run when the first pixel is set", () => {
    expect(encode(Uint8Array.from([1, 1, 0, 1]), 2, 2).counts).toEqual([0, 2, 1, 1]);
  });

  it("encodes an empty mask as one run covering every pixel", () => {
    expect(encode(new Uint8Array(12), 3, 4).counts).toEqual([12]);
  });

  it("round-trips random masks and the counts sum to H*W", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 20; trial++) {
      const h = 1 + Math.floor(rand() * 17);
      const w = 1 + Math.floor(rand() * 23);
      const mask = new Uint8Array(h * w).map(() => (rand() < 0.4 ? 1 : 0));
      const rle = encode(mask, h, w);
      expect(rle.counts.reduce((a, b) => a + b, 0)).toBe(h * w);
      expect(decode(rle)).toEqual(mask);
      expect(area(rle)).toBe(mask.reduce((a, b) => a + b, 0));
    }
  });

  it("matches the server's encoding of the same mask (annotator/rle.py)", () => {
    // numpy: m = np.zeros((3, 4), bool); m[1, 1:3] = True; m[2, 3] = True; encode(m)
    const expected = { size: [3, 4], counts: [5, 2, 4, 1] };
    const mask = new Uint8Array(12);
    mask[5] = mask[6] = mask[11] = 1;
    expect(encode(mask, 3, 4)).toEqual(expected);
  });

  it("decodes into a shared label buffer with a value, leaving other pixels alone", () => {
    const target = Uint8Array.from([9, 9, 9, 9]);
    decode({ size: [2, 2], counts: [1, 2, 1] }, [2, 2], target, 3);
    expect(Array.from(target)).toEqual([9, 3, 3, 9]);
  });

  it.each([
    [{ size: [2, 2], counts: [1, 2] }, /cover 3 pixels, not 4/],
    [{ size: [2, 2], counts: [1, -1, 4] }, /non-negative/],
    [{ size: [0, 2], counts: [] }, /positive integers/],
    [{ counts: [4] }, /must be/],
    [null, /must be/],
  ])("refuses malformed input %j", (rle, message) => {
    expect(() => decode(rle)).toThrowError(message);
    expect(() => decode(rle)).toThrowError(RleError);
  });

  it("refuses a mask whose size is not the image's", () => {
    expect(() => decode({ size: [2, 2], counts: [4] }, [4, 1])).toThrowError(/2×2 but the image is 4×1/);
  });
});
