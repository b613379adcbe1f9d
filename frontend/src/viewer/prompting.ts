/**
 * Prompts to the model over the socket (docs/protocol.md `prompt` → `prompt.result`): a box, then points
 * that refine it (sent with the previous mask as input), each answered with candidate masks and their
 * predicted IoU. The candidate is shown over the image until it is accepted (editing.ts) or discarded.
 * The model's first answer on a (label, slice) is kept for the save, for the active-learning loop.
 * With a model not trained on clicks the server may refuse a point (`prompt.refused`): the point is
 * dropped, the candidate stays as it was, and the reason is shown.
 *
 * On a coronal or sagittal plane the box and points are display pixels of the plane resampled to square
 * pixels (what the model sees) and the masks come back on the plane's voxel grid. First predictions are
 * kept for axial prompts only: the active-learning loop works on axial slices.
 *
 * A prompt that gets no answer within PROMPT_TIMEOUT_MS is sent once more, and if that one gets none either
 * the user is told so: decodes are fire-and-forget on the workers, so a worker killed mid-decode never
 * answers (finding 9 of issue 13: such a prompt got neither a mask nor an error for 60 s).
 */

import type { PromptMessage, PromptRefused, PromptResult } from "../protocol";
import { decode } from "../rle";
import { ServerError } from "../socket";
import type { Emit } from "./bus";
import type { Point } from "./brush";
import { currentGrid, firstPredictionKey, planeOf, type ViewerState } from "./state";
import type { Notifier, ViewerView } from "./view";

/**
 * How long a prompt may go unanswered before it is sent once more. A decode takes ~25 ms and a first
 * embedding on CPU ~1 s (README "Measured"); `make test-stack` saw 1.6-4.6 s at p99 on a loaded machine.
 */
export const PROMPT_TIMEOUT_MS = 10_000;

/** The part of the socket prompting uses. */
export interface PromptChannel {
  readonly isOpen: boolean;
  prompt(message: PromptMessage, timeoutMs?: number): Promise<PromptResult | PromptRefused>;
}

/** A prompt sent twice that got no answer either time (a ServerError: its message is shown as it is). */
export class PromptUnanswered extends ServerError {
  override name = "PromptUnanswered";
}

function timedOut(error: unknown): boolean {
  return error instanceof ServerError && error.code === "timeout";
}

export interface PromptingDeps {
  state: ViewerState;
  socket: PromptChannel;
  view: Pick<ViewerView, "candidates" | "mask" | "redraw" | "hint">;
  notify: Notifier;
  emit: Emit;
  now: () => number;
  /** PROMPT_TIMEOUT_MS unless given (tests). */
  promptTimeoutMs?: number;
}

export class Prompting {
  constructor(private readonly deps: PromptingDeps) {}

  /** A new box on the current slice: a fresh prompt (points given before it are dropped). */
  box(box: [number, number, number, number]): Promise<void> {
    const { state } = this.deps;
    const t0 = this.deps.now();
    state.candidate = null;
    state.prompt = { slice: state.slice, plane: state.plane, box, points: [] };
    return this.send(t0);
  }

  /** A point (label 1: include, 0: exclude) on the image; it joins the current slice's prompt. */
  point(p: Point, label: 0 | 1): Promise<void> {
    const { state } = this.deps;
    if (!state.viewport.contains(p.x, p.y)) return Promise.resolve();
    const t0 = this.deps.now();
    if (!state.prompt || state.prompt.slice !== state.slice || planeOf(state.prompt) !== state.plane) {
      state.prompt = { slice: state.slice, plane: state.plane, box: null, points: [] };
    }
    state.prompt.points.push({ x: Math.round(p.x), y: Math.round(p.y), label });
    return this.send(t0);
  }

  /** Drop the candidate and the prompts that led to it. */
  discard(): void {
    const { state, view } = this.deps;
    state.candidate = null;
    state.prompt = null;
    view.candidates();
    view.mask();
  }

  /** Show the candidate's next mask (Tab). */
  nextMask(): void {
    const c = this.deps.state.candidate;
    if (!c) return;
    this.choose((c.index + 1) % c.masks.length);
  }

  choose(index: number): void {
    const c = this.deps.state.candidate;
    if (!c || index < 0 || index >= c.masks.length) return;
    c.index = index;
    this.deps.view.candidates();
    this.deps.view.mask();
  }

  private async send(t0: number): Promise<void> {
    const { state, socket, view, notify } = this.deps;
    const prompt = state.prompt;
    const label = state.activeLabel;
    if (!prompt || !label) return;
    if (!socket.isOpen) {
      notify.show("Not connected: the prompt will work again once the connection is back.", "warn");
      return;
    }
    state.promptPending = true;
    view.candidates();
    view.redraw();
    const plane = planeOf(prompt);
    const refining = state.candidate !== null && state.candidate.slice === prompt.slice && planeOf(state.candidate) === plane;
    const sentPoints = prompt.points.length;
    try {
      const result = await this.ask({
        series_id: state.series.id,
        slice_index: prompt.slice,
        ...(plane !== "axial" ? { plane } : {}),
        ...(prompt.box ? { box: prompt.box } : {}),
        ...(prompt.points.length
          ? { points: prompt.points.map((q) => [q.x, q.y] as [number, number]), point_labels: prompt.points.map((q) => q.label) }
          : {}),
        ...(refining ? { mask_input: "previous" as const } : {}),
        multimask: true,
        label_id: label.id,
      });
      state.promptPending = false;
      // An answer for a slice left meanwhile, or for prompts since replaced, is not shown.
      if (result.slice_index !== state.slice || plane !== state.plane || state.prompt !== prompt) return;
      if (result.type === "prompt.refused") return this.refused(result, prompt, sentPoints);
      const { rows, cols } = currentGrid(state);
      const masks = result.masks.map((m) => ({ mask: decode(m.rle, [rows, cols]), iou: m.iou }));
      if (!masks.length) {
        notify.show("The model found nothing there. Try a tighter box.", "warn");
        view.candidates();
        return;
      }
      // The label active when the answer arrives (the user may have switched while waiting).
      const labelId = state.activeLabel?.id ?? label.id;
      const key = firstPredictionKey(labelId, prompt.slice);
      const first = result.masks[0]!;
      if (plane === "axial" && !state.firstPredictions.has(key)) state.firstPredictions.set(key, { rle: first.rle, iou: first.iou, model: result.model });
      state.candidate = { slice: prompt.slice, plane, labelId, masks, index: 0, model: result.model };
      view.candidates();
      view.mask();
      this.deps.emit({ type: "prompt.answered", startedAt: t0, slice: prompt.slice, labelId, model: result.model, serverMs: result.timings.total_ms });
      view.hint(`Model ${result.model}: decoded in ${Math.round(result.timings.decode_ms)} ms, ${Math.round(result.timings.total_ms)} ms in all.`);
    } catch (error) {
      state.promptPending = false;
      view.candidates();
      notify.error(error, "Segmenting");
    }
  }

  /** Send `message`; with no answer in time, send it once more; with none again, throw PromptUnanswered. */
  private async ask(message: PromptMessage): Promise<PromptResult | PromptRefused> {
    const { socket, view } = this.deps;
    const timeoutMs = this.deps.promptTimeoutMs ?? PROMPT_TIMEOUT_MS;
    const seconds = Math.round(timeoutMs / 1000);
    try {
      return await socket.prompt(message, timeoutMs);
    } catch (error) {
      if (!timedOut(error)) throw error;
    }
    view.hint(`No answer from the model within ${seconds} s: asking once more…`);
    try {
      return await socket.prompt(message, timeoutMs);
    } catch (error) {
      if (!timedOut(error)) throw error;
      throw new PromptUnanswered(
        "unanswered",
        `the model did not answer this prompt, sent twice (${seconds} s each); a worker may be restarting. Try again in a moment.`,
      );
    }
  }

  /** The newest point sent was not applied: drop it, keep the candidate it was meant to correct. */
  private refused(refusal: PromptRefused, prompt: NonNullable<ViewerState["prompt"]>, sentPoints: number): void {
    const { view, notify } = this.deps;
    if (sentPoints > 0 && prompt.points.length === sentPoints) prompt.points.pop();
    view.candidates();
    view.redraw();
    notify.show(refusal.message, "warn");
    this.deps.emit({ type: "prompt.refused", slice: refusal.slice_index, reason: refusal.reason });
  }
}
