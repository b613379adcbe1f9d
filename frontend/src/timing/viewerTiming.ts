/**
 * Annotation time in the viewer, mounted by viewer/page.ts with one call: the interaction log fed from the
 * viewer's bus, the running active time of the current mask in the status line, and the timing study's
 * box when the viewer is opened on a study task. Publishes `window.__delineateTiming` for the browser tests.
 */

import { csrfToken, type Api } from "../api";
import { h } from "../ui/dom";
import type { ViewerBus } from "../viewer/bus";
import type { ViewerState } from "../viewer/state";
import { formatDuration, runningMs, type TimedEvent } from "./activeTime";
import { endpointsTiming, type SeriesTiming } from "./endpoints";
import { InteractionLog, type Batch, type KeptBatches } from "./interactionLog";
import { mountStudyPanel } from "./studyPanel";
import { ViewerLogger } from "./viewerLog";

/** The parts of the viewer the timing needs (ViewerController has them all). */
export interface TimedViewer {
  bus: ViewerBus;
  socket: { readonly isOpen: boolean; request(message: { type: string } & Record<string, unknown>): Promise<unknown> };
  sync: { autosave: { flush(): Promise<void>; readonly hasUnsaved: boolean } };
}

export interface TimingMount {
  log: InteractionLog;
  /** pagehide: close the session and beacon what is unsent */
  pageHide(): void;
  /** the running active time of a label (the active one by default), ms */
  activeMs(labelId?: number): number;
}

function localKept(): KeptBatches | undefined {
  try {
    const store = window.localStorage;
    return {
      keys: () => Array.from({ length: store.length }, (_, i) => store.key(i) ?? ""),
      get: (k) => store.getItem(k),
      set: (k, v) => store.setItem(k, v),
      remove: (k) => store.removeItem(k),
    };
  } catch {
    return undefined; // storage switched off: the beacon alone carries the last batch
  }
}

export function mountViewerTiming(options: {
  api: Api;
  viewer: TimedViewer;
  state: ViewerState;
  statusbar: HTMLElement;
  side: HTMLElement;
  toolbar: HTMLElement;
  notify: { show(text: string, kind?: "info" | "ok" | "warn" | "error"): void; error(error: unknown, what: string): void };
}): TimingMount {
  const { api, viewer, state } = options;
  const epoch = (busTime: number) => performance.timeOrigin + busTime;
  const url = endpointsTiming.interactions();
  const log = new InteractionLog({
    now: () => epoch(performance.now()),
    kept: localKept(),
    transport: {
      socketOpen: () => viewer.socket.isOpen,
      socket: (batch: Batch) => viewer.socket.request({ type: "log", ...batch }),
      rest: (batch: Batch) => api.post(url, batch),
      beacon: (batch: Batch) =>
        navigator.sendBeacon(url, new URLSearchParams({ payload: JSON.stringify(batch), csrfmiddlewaretoken: csrfToken() })),
    },
  });
  const logger = new ViewerLogger(log, state, epoch);
  viewer.bus.onCommand((d) => logger.onCommand(d));
  viewer.bus.onEvent((e) => logger.onEvent(e, viewer.bus.now()));
  logger.record("page.open", viewer.bus.now(), { detail: { visible: document.visibilityState === "visible" } });

  // The running clock: what the server has from earlier sessions, plus this session counted here. Asked
  // once the batches kept by the page before a reload are in, so that their time is part of it.
  const baseline = new Map<number, number>();
  let idleMs = 30_000;
  log
    .resendKept()
    .then(() => api.get<SeriesTiming>(endpointsTiming.seriesTiming(state.series.id, log.session, state.assignmentId)))
    .then((timing) => {
      idleMs = timing.idle_threshold_s * 1000;
      for (const [label, t] of Object.entries(timing.labels)) baseline.set(Number(label), t.active_ms);
    })
    .catch((error) => options.notify.error(error, "Loading the time spent so far"));
  const timed = (): TimedEvent[] =>
    log.events.map((e) => ({ session: log.session, seq: e.seq, t: e.t, kind: e.kind, label: e.label_id ?? null, duration: e.duration_ms ?? 0 }));
  const activeMs = (labelId = state.activeLabel?.id ?? -1) =>
    (baseline.get(labelId) ?? 0) + runningMs(timed(), labelId, idleMs, epoch(performance.now()));
  const clock = h("span", { class: "status-time", title: "" });
  options.statusbar.append(clock);
  const tick = () => {
    const label = state.activeLabel;
    clock.textContent = label ? `Active ${formatDuration(activeMs(label.id))} on ${label.name}` : "";
    clock.title = `Active time on this mask: pauses over ${Math.round(idleMs / 1000)} s and time in another tab are not counted.`;
  };
  tick();
  window.setInterval(tick, 1000);

  void mountStudyPanel({
    api,
    state,
    dispatch: viewer.bus.dispatch,
    side: options.side,
    toolbar: options.toolbar,
    notify: options.notify,
    go: (target) => window.location.assign(target),
    finish: async () => {
      logger.record("submit", viewer.bus.now());
      await viewer.sync.autosave.flush();
      await log.flush();
      return !viewer.sync.autosave.hasUnsaved && log.pending === 0;
    },
  }).catch((error) => options.notify.error(error, "Loading the study task"));

  (window as { __delineateTiming?: unknown }).__delineateTiming = {
    session: log.session,
    pending: () => log.pending,
    events: () => log.events.length,
    kinds: () => log.events.map((e) => e.kind),
    lastTransport: () => log.lastTransport,
    activeMs: (labelId?: number) => activeMs(labelId),
    flush: () => log.flush(),
  };
  return {
    log,
    activeMs,
    pageHide: () => {
      logger.closeView();
      logger.record("page.close", viewer.bus.now());
      log.pageHide();
    },
  };
}
