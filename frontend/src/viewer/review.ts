/**
 * The case the viewer was opened for (`?assignment=`). Annotating one's own case: it starts when opened,
 * comments from the reviewer show on the image and in a panel, and Submit and next saves, submits and opens
 * the next case of the project's queue. Reviewing someone's case (reviewers and owners): every annotator's
 * mask of the task is a layer of its own (toggle, history), comments are pinned with the Comment tool,
 * the case is approved or sent back with a comment, and the agreement numbers and a consensus mask
 * (majority vote or STAPLE) come from the server. Carries out the `ReviewCommand`s of the bus.
 */

import type { Api } from "../api";
import { endpoints } from "../endpoints";
import type { CommentInfo, RevisionSummary } from "../protocol";
import { decode, type Rle } from "../rle";
import { caseUrl, teamEndpoints, type AgreementInfo, type AssignmentInfo, type CaseInfo, type TaskReview } from "../team";
import { layerKey, layersOf, type ReviewCommand, type ReviewLayer } from "./reviewState";
import type { ViewerState } from "./state";
import type { Notifier } from "./view";

export interface ReviewView {
  /** Redraw the case, layers, comments, agreement and history panels. */
  review(): void;
  mask(): void;
  redraw(): void;
}

export interface ReviewDeps {
  state: ViewerState;
  api: Pick<Api, "get" | "post" | "json">;
  notify: Notifier;
  view: ReviewView;
  /** the viewer's own masks' autosave: saved before submitting, the base of a restore */
  autosave: { flush(): Promise<void>; readonly hasUnsaved: boolean; baseOf(labelId: number): number | null };
  navigate(url: string): void;
}

/** The hint of a read-only viewer: what a reviewer can do here. */
export function readOnlyHint(state: Pick<ViewerState, "assignmentId">): string {
  return state.assignmentId !== null
    ? "Reviewing a case: toggle each annotator's layer, pin comments with the Comment tool (K), approve or request changes."
    : "Read-only: reviewers look but do not edit masks. Open a submitted case from the project page to comment and approve.";
}

export class Review {
  constructor(private readonly deps: ReviewDeps) {}

  private get review() {
    return this.deps.state.review;
  }

  /** Load the case named by `?assignment=` (nothing without one). */
  async load(): Promise<void> {
    const { state, api, notify } = this.deps;
    if (state.assignmentId === null) return;
    try {
      const info = await api.get<CaseInfo>(teamEndpoints.caseOf(state.assignmentId));
      this.review.caseInfo = info;
      this.review.comments = info.comments;
      this.review.mode = info.assignment.username === state.username ? "annotate" : "review";
      if (this.review.mode === "annotate" && (info.assignment.state === "todo" || info.assignment.state === "returned")) {
        info.assignment = await api.post<AssignmentInfo>(teamEndpoints.assignmentAction(info.assignment.id, "start"), {});
      }
      if (this.review.mode === "review") await this.loadTask(info.task.id);
    } catch (error) {
      notify.error(error, "Opening the case");
    }
    this.deps.view.review();
    this.deps.view.mask();
  }

  private async loadTask(taskId: number): Promise<void> {
    const { state, api } = this.deps;
    const task = await api.get<TaskReview>(teamEndpoints.taskReview(taskId));
    this.review.task = task;
    this.review.layers = layersOf(task, state.geometry);
    await Promise.all([...this.review.layers.map((layer) => this.loadLayer(layer)), this.loadAgreement()]);
  }

  private async loadLayer(layer: ReviewLayer): Promise<void> {
    const { state, api, notify } = this.deps;
    const base = endpoints.labelMask(state.series.id, layer.labelId);
    const url = layer.username === null ? `${base}?track=consensus` : `${base}?annotator=${encodeURIComponent(layer.username)}`;
    try {
      const data = await api.get<{ revision: RevisionSummary | null; slices: Record<string, Rle> }>(url);
      const { depth, height, width } = state.geometry;
      for (let z = 0; z < depth; z++) layer.volume.clear(layer.labelId, z);
      for (const [z, rle] of Object.entries(data.slices)) decode(rle, [height, width], layer.volume.get(layer.labelId, Number(z)));
      layer.revision = data.revision;
    } catch (error) {
      notify.error(error, `Loading ${layer.username ?? "the consensus"}'s mask`);
    }
  }

  private async loadAgreement(): Promise<void> {
    const task = this.review.task;
    if (!task) return;
    this.review.agreement = await this.deps.api.get<AgreementInfo>(teamEndpoints.agreement(task.task));
  }

  execute(command: ReviewCommand): void {
    switch (command.type) {
      case "review.layer.toggle": {
        const layer = this.review.layers.find((l) => l.key === command.key);
        if (layer) layer.visible = !layer.visible;
        this.deps.view.review();
        return this.deps.view.mask();
      }
      case "comment.pin":
        if (!this.review.caseInfo) {
          this.deps.notify.show("Comments belong to a case: open one from the project page.", "warn");
          return;
        }
        this.review.pin = { slice: this.deps.state.slice, x: command.x, y: command.y };
        this.deps.view.review();
        return this.deps.view.redraw();
      case "comment.send":
        return void this.send(command.text, command.requestChanges);
      case "comment.resolve":
        return void this.resolve(command.id, command.resolved);
      case "review.approve":
        return void this.approve();
      case "review.consensus":
        return void this.consensus(command.labelId, command.method);
      case "review.history":
        return void this.history(command.key);
      case "review.restore":
        return void this.restore(command.revisionId);
      case "case.submit-next":
        return void this.submitAndNext();
    }
  }

  private async send(text: string, requestChanges: boolean): Promise<void> {
    const { api, notify } = this.deps;
    const info = this.review.caseInfo;
    if (!info) return;
    const pin = this.review.pin;
    const body = { text, ...(pin ? { slice_index: pin.slice, x: pin.x, y: pin.y } : {}), label: this.deps.state.activeLabel?.id ?? null };
    try {
      if (requestChanges) {
        const reply = await api.post<{ assignment: AssignmentInfo; comment: CommentInfo }>(teamEndpoints.requestChanges(info.assignment.id), body);
        info.assignment = reply.assignment;
        this.addComment(reply.comment);
        notify.show(`Sent back to ${info.assignment.username} with your comment.`, "ok");
      } else {
        this.addComment(await api.post<CommentInfo>(teamEndpoints.comments(info.assignment.id), body));
      }
      this.review.pin = null;
    } catch (error) {
      notify.error(error, requestChanges ? "Requesting changes" : "Commenting");
    }
    this.deps.view.review();
    this.deps.view.redraw();
  }

  private addComment(comment: CommentInfo): void {
    const known = this.review.comments.findIndex((c) => c.id === comment.id);
    if (known >= 0) this.review.comments[known] = comment;
    else this.review.comments.push(comment);
  }

  private async resolve(id: number, resolved: boolean): Promise<void> {
    try {
      this.addComment(await this.deps.api.json<CommentInfo>(teamEndpoints.comment(id), { method: "PATCH", body: { resolved } }));
    } catch (error) {
      this.deps.notify.error(error, "Resolving the comment");
    }
    this.deps.view.review();
    this.deps.view.redraw();
  }

  private async approve(): Promise<void> {
    const info = this.review.caseInfo;
    if (!info) return;
    try {
      info.assignment = await this.deps.api.post<AssignmentInfo>(teamEndpoints.assignmentAction(info.assignment.id, "approve"), {});
      this.deps.notify.show(`Approved ${info.assignment.username}'s case.`, "ok");
    } catch (error) {
      this.deps.notify.error(error, "Approving");
    }
    this.deps.view.review();
  }

  private async consensus(labelId: number, method: "majority" | "staple"): Promise<void> {
    const task = this.review.task;
    if (!task) return;
    try {
      const reply = await this.deps.api.post<{ revision: RevisionSummary }>(teamEndpoints.consensus(task.task), { label: labelId, method });
      const layer = this.review.layers.find((l) => l.key === layerKey(null, labelId));
      if (layer) await this.loadLayer(layer);
      this.deps.notify.show(`Consensus (${method === "staple" ? "STAPLE" : "majority vote"}) saved as revision ${reply.revision.number}.`, "ok");
    } catch (error) {
      this.deps.notify.error(error, "Building the consensus");
    }
    this.deps.view.review();
    this.deps.view.mask();
  }

  private async history(key: string): Promise<void> {
    const { state, api, notify } = this.deps;
    const own = key.startsWith("mine:");
    const layer = own ? null : this.review.layers.find((l) => l.key === key);
    const labelId = own ? Number(key.slice(5)) : layer?.labelId;
    if (labelId === undefined) return;
    const username = own ? state.username : (layer?.username ?? null);
    const base = endpoints.revisions(state.series.id, labelId);
    const url = username === null ? `${base}?track=consensus` : `${base}?annotator=${encodeURIComponent(username)}`;
    try {
      const revisions = await api.get<RevisionSummary[]>(url);
      const canRestore = own ? !state.readOnly : username === null && this.review.mode === "review";
      this.review.history = { layerKey: key, labelId, username, revisions, canRestore };
    } catch (error) {
      notify.error(error, "Loading the revision history");
    }
    this.deps.view.review();
  }

  private async restore(revisionId: number): Promise<void> {
    const { state, api, notify, autosave } = this.deps;
    const history = this.review.history;
    if (!history?.canRestore) return;
    try {
      let base: number | null;
      if (history.username === null) {
        base = this.review.layers.find((l) => l.key === history.layerKey)?.revision?.id ?? null;
      } else {
        await autosave.flush();
        base = autosave.baseOf(history.labelId);
      }
      // No socket header: the revision.created that comes back reloads the mask (sync.ts, or onRevision here).
      const reply = await api.post<{ revision: RevisionSummary }>(teamEndpoints.restore(state.series.id, history.labelId, revisionId), { base_revision: base });
      notify.show(`Restored: revision ${reply.revision.number} has the content of the one you chose.`, "ok");
      await this.history(history.layerKey);
    } catch (error) {
      notify.error(error, "Restoring the revision");
    }
  }

  private async submitAndNext(): Promise<void> {
    const { state, api, notify, autosave, navigate } = this.deps;
    const info = this.review.caseInfo;
    if (!info || this.review.mode !== "annotate") return;
    try {
      await autosave.flush();
      if (autosave.hasUnsaved) {
        notify.show("Your last changes are not saved yet (see the status line): the case was not submitted.", "error");
        return;
      }
      info.assignment = await api.post<AssignmentInfo>(teamEndpoints.assignmentAction(info.assignment.id, "submit"), {});
      this.deps.view.review();
      const next = await api.post<{ assignment: AssignmentInfo | null }>(teamEndpoints.nextCase(state.project.id), {});
      if (next.assignment) navigate(caseUrl(next.assignment.series, next.assignment.id));
      else navigate(`/projects/${state.project.id}/?done=1`);
    } catch (error) {
      notify.error(error, "Submitting the case");
      this.deps.view.review();
    }
  }

  // -- server messages ------------------------------------------------------------------------------

  onComment(comment: CommentInfo): void {
    if (comment.assignment !== this.deps.state.assignmentId) return;
    const isNew = !this.review.comments.some((c) => c.id === comment.id);
    this.addComment(comment);
    if (isNew && comment.author !== this.deps.state.username) {
      const where = comment.slice_index !== null && comment.slice_index !== undefined ? ` (slice ${comment.slice_index + 1})` : "";
      this.deps.notify.show(`${comment.author} commented${where}: ${comment.text}`, "info", 10_000);
    }
    this.deps.view.review();
    this.deps.view.redraw();
  }

  onAssignment(update: { id: number; state: string }): void {
    const info = this.review.caseInfo;
    if (!info || info.assignment.id !== update.id) return;
    info.assignment = { ...info.assignment, state: update.state as AssignmentInfo["state"] };
    if (update.state === "approved") this.deps.notify.show("This case was approved.", "ok", 10_000);
    if (update.state === "returned") {
      this.deps.notify.show("Changes were requested on this case: see the comments.", "warn", 10_000);
      // The annotator has it open: it is theirs to work on again, as when they open it.
      if (this.review.mode === "annotate") void this.restart(info);
    }
    this.deps.view.review();
  }

  private async restart(info: CaseInfo): Promise<void> {
    try {
      info.assignment = await this.deps.api.post<AssignmentInfo>(teamEndpoints.assignmentAction(info.assignment.id, "start"), {});
    } catch (error) {
      this.deps.notify.error(error, "Reopening the case");
    }
    this.deps.view.review();
  }

  /** Another slice is shown: the panels about the current slice (agreement on it, its comments) follow. */
  sliceShown(): void {
    if (this.review.mode !== null) this.deps.view.review();
  }

  /** A revision saved elsewhere: while reviewing, reload the layer it belongs to. */
  onRevision(labelId: number, annotator: string, consensus: boolean): void {
    if (this.review.mode !== "review") return;
    const layer = this.review.layers.find((l) => l.key === layerKey(consensus ? null : annotator, labelId));
    if (!layer) return;
    void this.loadLayer(layer).then(() => {
      this.deps.view.review();
      this.deps.view.mask();
    });
    void this.loadAgreement().then(() => this.deps.view.review());
  }
}
