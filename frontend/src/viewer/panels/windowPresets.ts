/** The "Window" panel: a button per display-window preset of the series, and the window now. */

import type { WindowPresetInfo } from "../../endpoints";
import { clear, h } from "../../ui/dom";
import type { Dispatch } from "../bus";
import { describeWindow, type DisplayWindow } from "../windowing";

/** "soft_tissue" → "Soft tissue". */
export function prettyPreset(name: string): string {
  return name.replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

export function presetText(preset: WindowPresetInfo): string {
  return `${prettyPreset(preset.name)} ${preset.level}/${preset.width}`;
}

export interface WindowPanelState {
  channels: 1 | 3;
  presets: readonly WindowPresetInfo[];
  window: DisplayWindow;
  windowName: string;
}

export function renderWindowPresets(el: HTMLElement, panel: WindowPanelState, dispatch: Dispatch): void {
  clear(el);
  if (panel.channels === 3) {
    el.append(h("p", { class: "muted" }, "Colour image: no window."));
    return;
  }
  for (const preset of panel.presets) {
    const b = h("button", { type: "button", class: preset.name === panel.windowName ? "active" : "" }, presetText(preset));
    b.addEventListener("click", () => dispatch({ type: "window.preset", name: preset.name, window: { level: preset.level, width: preset.width } }));
    el.append(b);
  }
  el.append(h("div", { class: "muted window-now" }, describeWindow(panel.window)));
}

/** Update only the line naming the window (during a right-drag). */
export function renderWindowReadout(el: HTMLElement, window: DisplayWindow): void {
  const now = el.querySelector(".window-now");
  if (now) now.textContent = describeWindow(window);
}
