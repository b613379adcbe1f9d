import { describe, expect, it } from "vitest";
import { actionForKey, SHORTCUTS } from "./shortcuts";

describe("shortcuts", () => {
  it("maps Ctrl+Z to undo and Ctrl+Shift+Z (and Ctrl+Y) to redo, also with Cmd", () => {
    expect(actionForKey({ key: "z", ctrlKey: true })).toBe("undo");
    expect(actionForKey({ key: "Z", ctrlKey: true, shiftKey: true })).toBe("redo");
    expect(actionForKey({ key: "y", ctrlKey: true })).toBe("redo");
    expect(actionForKey({ key: "z", metaKey: true })).toBe("undo");
  });

  it("plain letters choose tools, but not with Ctrl or Alt held", () => {
    expect(actionForKey({ key: "b" })).toBe("tool.box");
    expect(actionForKey({ key: "B", shiftKey: true })).toBe("tool.box");
    expect(actionForKey({ key: "b", ctrlKey: true })).toBeNull();
    expect(actionForKey({ key: "e", altKey: true })).toBeNull();
  });

  it("digits pick labels and arrows move through slices", () => {
    expect(actionForKey({ key: "3" })).toBe("label.3");
    expect(actionForKey({ key: "ArrowDown" })).toBe("slice.next");
    expect(actionForKey({ key: "PageUp" })).toBe("slice.previous10");
  });

  it("clearing a slice needs Shift so a stray Delete cannot wipe a mask", () => {
    expect(actionForKey({ key: "Delete" })).toBeNull();
    expect(actionForKey({ key: "Delete", shiftKey: true })).toBe("clear-slice");
  });

  it("the help overlay lists every action the keyboard can trigger", () => {
    const listed = new Set(SHORTCUTS.map((s) => s.action).filter(Boolean));
    const keys = ["b", "p", "n", "d", "e", "f", "v", "Enter", "Escape", "Tab", "w", "0", "o", "g", "?"];
    for (const key of keys) expect(listed.has(actionForKey({ key }))).toBe(true);
    expect(listed.has(actionForKey({ key: "z", ctrlKey: true }))).toBe(true);
    expect(listed.has(actionForKey({ key: "s", ctrlKey: true }))).toBe(true);
  });
});
