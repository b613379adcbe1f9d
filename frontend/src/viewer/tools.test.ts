import { describe, expect, it } from "vitest";
import { type Action, actionForKey, EDIT_TOOLS, keyHint, parsePress, SHORTCUTS, TOOLS } from "./tools";

describe("the tools and shortcuts table", () => {
  it("maps Ctrl+Z to undo and Ctrl+Shift+Z (and Ctrl+Y) to redo, also with Cmd", () => {
    expect(actionForKey({ key: "z", ctrlKey: true })).toBe("undo");
    expect(actionForKey({ key: "Z", ctrlKey: true, shiftKey: true })).toBe("redo");
    expect(actionForKey({ key: "y", ctrlKey: true })).toBe("redo");
    expect(actionForKey({ key: "z", metaKey: true })).toBe("undo");
    expect(actionForKey({ key: "s", ctrlKey: true, shiftKey: true })).toBe("save");
  });

  it("plain letters choose tools, in either case, but not with Ctrl or Alt held", () => {
    expect(actionForKey({ key: "b" })).toBe("tool.box");
    expect(actionForKey({ key: "B", shiftKey: true })).toBe("tool.box");
    expect(actionForKey({ key: "b", ctrlKey: true })).toBeNull();
    expect(actionForKey({ key: "e", altKey: true })).toBeNull();
  });

  it("digits pick labels, 0 fits the image, and arrows and page keys move through slices", () => {
    expect(actionForKey({ key: "3" })).toBe("label.3");
    expect(actionForKey({ key: "9" })).toBe("label.9");
    expect(actionForKey({ key: "0" })).toBe("zoom.fit");
    expect(actionForKey({ key: "ArrowDown" })).toBe("slice.next");
    expect(actionForKey({ key: "ArrowLeft" })).toBe("slice.previous");
    expect(actionForKey({ key: "PageUp" })).toBe("slice.previous10");
  });

  it("zooms with + (typed with Shift), = and −", () => {
    expect(actionForKey({ key: "+", shiftKey: true })).toBe("zoom.in");
    expect(actionForKey({ key: "=" })).toBe("zoom.in");
    expect(actionForKey({ key: "-" })).toBe("zoom.out");
  });

  it("jumps between annotated slices with [ and ], sizes the brush with , and . and switches planes with A, C, S", () => {
    expect(actionForKey({ key: "[" })).toBe("slice.previous-annotated");
    expect(actionForKey({ key: "]" })).toBe("slice.next-annotated");
    expect(actionForKey({ key: "," })).toBe("brush.smaller");
    expect(actionForKey({ key: "." })).toBe("brush.larger");
    expect(["a", "c", "s"].map((key) => actionForKey({ key }))).toEqual(["plane.axial", "plane.coronal", "plane.sagittal"]);
    expect(actionForKey({ key: "s", ctrlKey: true })).toBe("save");
    expect(actionForKey({ key: "x" })).toBe("crosshair.toggle");
    expect(keyHint("slice.next-annotated")).toBe("[");
  });

  it("clearing a slice needs Shift so a stray Delete cannot wipe a mask", () => {
    expect(actionForKey({ key: "Delete" })).toBeNull();
    expect(actionForKey({ key: "Backspace" })).toBeNull();
    expect(actionForKey({ key: "Delete", shiftKey: true })).toBe("clear-slice");
    expect(actionForKey({ key: "Backspace", shiftKey: true })).toBe("clear-slice");
  });

  it("keys nobody bound do nothing", () => {
    expect(actionForKey({ key: "q" })).toBeNull();
    expect(actionForKey({ key: "F5" })).toBeNull();
  });

  it("never binds one key press to two actions", () => {
    const seen = new Map<string, Action>();
    for (const s of SHORTCUTS) {
      for (const b of s.bindings) {
        for (const press of b.press) {
          const p = parsePress(press, b.action);
          const id = `${p.ctrl}|${p.shift}|${p.key}`;
          expect(seen.get(id), `${press} is bound twice`).toBeUndefined();
          seen.set(id, b.action);
        }
      }
    }
  });

  it("every key written in the table triggers its own action", () => {
    for (const s of SHORTCUTS) {
      for (const b of s.bindings) {
        for (const press of b.press) {
          const p = parsePress(press, b.action);
          expect(actionForKey({ key: p.key, ctrlKey: p.ctrl, shiftKey: p.shift ?? false })).toBe(b.action);
        }
      }
    }
  });

  it("lists the eight tools for the toolbar, each with its key, and only pan and comment as tools that do not edit", () => {
    expect(TOOLS.map((t) => t.tool)).toEqual(["box", "point-positive", "point-negative", "brush", "eraser", "fill", "pan", "comment"]);
    expect(TOOLS.map((t) => keyHint(`tool.${t.tool}`))).toEqual(["B", "P", "N", "D", "E", "F", "V", "K"]);
    expect(TOOLS.map((t) => actionForKey({ key: keyHint(`tool.${t.tool}`) }))).toEqual(TOOLS.map((t) => `tool.${t.tool}`));
    expect([...EDIT_TOOLS]).not.toContain("pan");
    expect([...EDIT_TOOLS]).not.toContain("comment");
    expect(EDIT_TOOLS.size).toBe(6);
  });

  it("gives buttons the first key of a row as their hint", () => {
    expect(keyHint("redo")).toBe("Ctrl+Shift+Z");
    expect(keyHint("help")).toBe("?");
    expect(keyHint("clear-slice")).toBe("Shift+Delete");
    expect(keyHint("accept")).toBe("Enter");
  });
});
