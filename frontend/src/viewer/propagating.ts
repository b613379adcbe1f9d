/**
 * 3D propagation from the viewer: propagate the active label's mask on the current slice through the
 * neighbouring slices (docs/protocol.md: propagate → job.created → propagate.slice… → job.progress). The
 * slices arrive one by one and are painted as model masks straight away (saved like accepted masks); the
 * whole run is one undo step, recorded when the job ends; Cancel stops applying at once. The run's own
 * bookkeeping is PropagationRun (propagation.ts).
 */

import type { JobState, ServerMessage, ServerMessageOf } from "../protocol";
import { decode, encode } from "../rle";
import { diffMasks, type HistoryEntry } from "./history";
import type { DirtyMarker } from "./editing";
import { EarlyMessages, PropagationRun } from "./propagation";
import { firstPredictionKey, type ViewerState } from "./state";
import type { Notifier, ViewerView } from "./view";

/** The part of the socket propagation uses. */
export interface JobChannel {
  request<T extends ServerMessage = ServerMessage>(message: { type: string } & Record<string, unknown>): Promise<T>;
}

type JobMessage = ServerMessageOf<"propagate.slice"> | ServerMessageOf<"job.progress">;

export interface PropagatingDeps {
  state: ViewerState;
  socket: JobChannel;
  autosave: DirtyMarker;
  view: Pick<ViewerView, "job" | "mask">;
  notify: Notifier;
  /** accept a pending candidate: propagation starts from the mask as it will be */
  accept(): void;
  /** record the finished run as one undo step */
  record(entry: HistoryEntry): void;
}

export class Propagating {
  /** A propagate request waits for its job.created reply; the job's messages arriving first are held. */
  private readonly early = new EarlyMessages<JobMessage>();

  constructor(private readonly deps: PropagatingDeps) {}

  async start(): Promise<void> {
    const { state, view, notify } = this.deps;
    const label = state.activeLabel;
    if (state.readOnly || !label || state.geometry.depth <= 1) return;
    if (state.plane !== "axial") {
      notify.show("3D propagation runs through axial slices: switch to the axial plane (A) to propagate.", "warn");
      return;
    }
    if (state.startingJob || (state.propagation && !state.propagation.ended)) {
      notify.show("A propagation is already running; cancel it first.", "warn");
      return;
    }
    this.deps.accept();
    const mask = state.volume.peek(label.id, state.slice);
    if (!mask || !mask.some((v) => v)) {
      notify.show(`Draw or accept a ${label.name} mask on this slice first; propagation starts from it.`, "warn");
      return;
    }
    state.startingJob = true;
    view.job();
    try {
      const reply = await this.deps.socket.request<ServerMessageOf<"job.created">>({
        type: "propagate",
        series_id: state.series.id,
        slice_index: state.slice,
        mask: encode(mask, state.geometry.height, state.geometry.width),
        label_id: label.id,
        direction: "both",
      });
      const run = new PropagationRun(reply.job.id, label.id);
      state.propagation = run;
      state.startingJob = false;
      this.progress(run, reply.job);
      for (const message of this.early.take(reply.job.id)) this.onMessage(message);
    } catch (error) {
      state.startingJob = false;
      this.early.take(-1);
      notify.error(error, "Starting the propagation");
    }
    view.job();
  }

  cancel(): void {
    const run = this.deps.state.propagation;
    if (!run || run.phase !== "running") return;
    run.cancel(); // from now on nothing the worker still sends is applied
    this.deps.view.job();
    this.deps.socket.request<ServerMessageOf<"job.progress">>({ type: "cancel_job", job_id: run.jobId }).then(
      (reply) => this.progress(run, reply.job),
      (error) => this.deps.notify.error(error, "Cancelling"),
    );
  }

  /** A propagate.slice or job.progress from the server: applied to the current run, held while one starts. */
  onMessage(message: JobMessage): void {
    const { state } = this.deps;
    const run = state.propagation;
    if (message.type === "propagate.slice") {
      if (run?.jobId === message.job_id) this.slice(run, message);
      else if (state.startingJob) this.early.hold(message.job_id, message);
    } else {
      if (run?.jobId === message.job.id) this.progress(run, message.job);
      else if (state.startingJob && message.job.kind === "propagate") this.early.hold(message.job.id, message);
    }
  }

  private slice(run: PropagationRun, message: ServerMessageOf<"propagate.slice">): void {
    const { state, view } = this.deps;
    const { slice_index: z, rle } = message;
    if (z < 0 || z >= state.geometry.depth || !run.admit()) {
      view.job();
      return;
    }
    const mask = state.volume.get(run.labelId, z);
    const before = mask.slice();
    try {
      decode(rle, [state.geometry.height, state.geometry.width], mask, 1);
    } catch (error) {
      mask.set(before);
      this.deps.notify.error(error, `Propagated slice ${z + 1}`);
      return;
    }
    const flipped = diffMasks(before, mask);
    if (flipped.length) {
      run.record(z, flipped);
      this.deps.autosave.markDirty(run.labelId, z, "model");
    }
    // The model's first prediction on this slice goes with the save, for the active-learning loop.
    const key = firstPredictionKey(run.labelId, z);
    if (message.model && !state.firstPredictions.has(key)) {
      state.firstPredictions.set(key, { rle, iou: message.iou, model: message.model });
    }
    if (z === state.slice) view.mask();
    view.job();
  }

  private progress(run: PropagationRun, job: JobState): void {
    const entry = run.update(job);
    if (entry) {
      this.deps.record(entry);
      const n = run.slices.length;
      if (run.phase === "failed") this.deps.notify.show(run.describe(), "error");
      else this.deps.notify.show(run.phase === "done" ? `Propagated to ${n} slice${n === 1 ? "" : "s"}.` : run.describe(), "ok");
    }
    this.deps.view.job();
  }
}
