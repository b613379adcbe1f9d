/**
 * The WebSocket protocol's message types, generated from annotator/messages.py by `make protocol`.
 * Do not edit: change the pydantic models and regenerate (tests/test_protocol.py fails when this is stale).
 */

/**
 * Any message on the socket, in either direction.
 */
export type Message = ClientMessage | ServerMessage;
export type ClientMessage =
  | PingMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | ViewMessage
  | PromptMessage
  | PropagateMessage
  | CancelJobMessage
  | LogMessage;
export type ServerMessage =
  | Hello
  | Pong
  | ErrorMessage
  | Subscribed
  | Unsubscribed
  | PromptResult
  | PromptRefused
  | EmbeddingReady
  | PlaneEmbeddings
  | PropagateSlice
  | JobCreated
  | JobProgress
  | RevisionCreated
  | Presence
  | QueueChanged
  | AssignmentUpdated
  | LogAck
  | CommentCreated
  | CommentUpdated
  | TrainingProgressMessage
  | ModelVersionChanged;

export interface PingMessage {
  request_id?: string | null;
  type?: "ping";
}
export interface SubscribeMessage {
  request_id?: string | null;
  type?: "subscribe";
  scope: Scope;
  label_id?: number | null;
  preset?: string | null;
  assignment_id?: number | null;
}
export interface Scope {
  kind: "series";
  id: number;
}
export interface UnsubscribeMessage {
  request_id?: string | null;
  type?: "unsubscribe";
  scope: Scope;
}
export interface ViewMessage {
  request_id?: string | null;
  type?: "view";
  series_id: number;
  slice_index: number;
  preset?: string | null;
  plane?: "axial" | "coronal" | "sagittal";
}
/**
 * A box and/or points (image pixels) on one slice; mask_input "previous" refines the last mask.
 *
 * On a coronal or sagittal ``plane`` the pixels are those of the plane resampled to square pixels.
 */
export interface PromptMessage {
  request_id?: string | null;
  type?: "prompt";
  series_id: number;
  slice_index: number;
  plane?: "axial" | "coronal" | "sagittal";
  box?: [number, number, number, number] | null;
  points?: [number, number][] | null;
  point_labels?: (0 | 1)[] | null;
  mask_input?: "previous" | null;
  multimask?: boolean;
  label_id?: number | null;
  preset?: string | null;
}
/**
 * Start a propagation job from a box or a mask on one slice, up, down or both ways.
 */
export interface PropagateMessage {
  request_id?: string | null;
  type?: "propagate";
  series_id: number;
  slice_index: number;
  box?: [number, number, number, number] | null;
  mask?: Rle | null;
  label_id?: number | null;
  preset?: string | null;
  direction?: "both" | "up" | "down";
  min_iou?: number;
}
/**
 * A binary [H, W] mask: lengths of alternating runs of 0 and 1 over the pixels in row-major order,
 * starting with a run of zeros (possibly 0); the counts sum to H * W (checked by annotator/rle.py).
 */
export interface Rle {
  /**
   * @minItems 2
   * @maxItems 2
   */
  size: [number, number];
  counts: number[];
}
export interface CancelJobMessage {
  request_id?: string | null;
  type?: "cancel_job";
  job_id: number;
}
/**
 * A batch of a client session's interaction events; answered with ``log.ack`` (stored once per seq).
 */
export interface LogMessage {
  request_id?: string | null;
  type?: "log";
  session: string;
  /**
   * @minItems 1
   * @maxItems 500
   */
  events: [LoggedEvent, ...LoggedEvent[]];
}
/**
 * One event of a client session; ``seq`` numbers a session's events from 0 without gaps.
 */
export interface LoggedEvent {
  seq: number;
  kind:
    | "page.open"
    | "page.close"
    | "focus"
    | "blur"
    | "visible"
    | "hidden"
    | "prompt"
    | "prompt.result"
    | "candidate"
    | "accept"
    | "brush"
    | "eraser"
    | "fill"
    | "clear"
    | "undo"
    | "redo"
    | "save"
    | "slice"
    | "tool"
    | "label"
    | "view"
    | "propagate"
    | "propagate.cancel"
    | "conflict"
    | "submit"
    | "review";
  t: number;
  duration_ms?: number;
  series_id?: number | null;
  label_id?: number | null;
  assignment_id?: number | null;
  slice_index?: number | null;
  revision_id?: number | null;
  model_version?: string;
  detail?: {
    [k: string]: string | number | boolean | (number | number)[] | null | undefined;
  };
}
export interface Hello {
  type: "hello";
  user: string;
  user_id: number;
  socket_id: string;
}
export interface Pong {
  type: "pong";
  request_id?: string | null;
}
export interface ErrorMessage {
  type: "error";
  request_id?: string | null;
  code: string;
  message: string;
}
export interface Subscribed {
  type: "subscribed";
  request_id?: string | null;
  scope: Scope;
  series: SeriesState;
  embeddings: EmbeddingsState;
  presence: PresenceUser[];
}
export interface SeriesState {
  id: number;
  shape: number[];
  preset: string;
}
export interface EmbeddingsState {
  preset: string;
  ready: number[];
  total: number;
}
export interface PresenceUser {
  username: string;
  slice_index: number | null;
  plane?: "axial" | "coronal" | "sagittal";
}
export interface Unsubscribed {
  type: "unsubscribed";
  request_id?: string | null;
  scope: Scope;
}
/**
 * Masks by predicted IoU, best first: one, or with multimask the single output and three candidates.
 *
 * Each mask lies on the plane's voxel grid (rows × cols of the stored volume), mapped back from the
 * resampled plane the model saw by majority per voxel (ml_worker.planes.mask_to_voxels).
 */
export interface PromptResult {
  type: "prompt.result";
  request_id: string;
  series_id: number;
  slice_index: number;
  plane?: "axial" | "coronal" | "sagittal";
  masks: MaskCandidate[];
  model: string;
  embedding_computed: boolean;
  timings: Timings;
}
export interface MaskCandidate {
  rle: Rle;
  iou: number;
}
export interface Timings {
  decode_ms: number;
  total_ms: number;
}
/**
 * The answer to a corrective point that was not applied: it lay outside the region around the mask
 * being corrected (``outside_region``; ``region`` says where points may go), or the model rated the
 * corrected mask lower than that mask (``iou_dropped``). The mask being corrected stays the one
 * refinements start from; the client drops the refused point (the last of the prompt's points).
 */
export interface PromptRefused {
  type: "prompt.refused";
  request_id: string;
  series_id: number;
  slice_index: number;
  reason: "outside_region" | "iou_dropped";
  message: string;
  region?: number[] | null;
  previous_iou: number;
  iou?: number | null;
  model: string;
}
export interface EmbeddingReady {
  type: "embedding.ready";
  series_id: number;
  slice_index: number;
  preset: string;
  plane?: "axial" | "coronal" | "sagittal";
}
/**
 * The answer to a ``view`` on another plane than the socket's last one: which of that plane's slices
 * already have their embedding (later ones arrive as ``embedding.ready`` naming the plane).
 */
export interface PlaneEmbeddings {
  type: "embeddings.state";
  series_id: number;
  plane: "axial" | "coronal" | "sagittal";
  preset: string;
  ready: number[];
  total: number;
}
/**
 * One slice of a propagation; model is null for a start slice that was the user's own mask.
 */
export interface PropagateSlice {
  type: "propagate.slice";
  job_id: number;
  series_id: number;
  slice_index: number;
  rle: Rle;
  iou: number;
  model: string | null;
}
export interface JobCreated {
  type: "job.created";
  request_id?: string | null;
  job: JobState;
}
/**
 * A job as browsers see it (Job.as_event()).
 */
export interface JobState {
  id: number;
  kind: string;
  state: "pending" | "running" | "done" | "failed" | "cancelled";
  progress: number;
  message: string;
  error: string;
  project?: number | null;
  result?: unknown;
  created_at?: string | null;
  updated_at?: string | null;
}
export interface JobProgress {
  type: "job.progress";
  request_id?: string | null;
  job: JobState;
}
export interface RevisionCreated {
  type: "revision.created";
  series_id: number;
  label_id: number;
  annotator: string;
  revision: RevisionSummary;
  consensus?: boolean;
}
/**
 * One saved revision of a mask (annotator/actions/masks.py revision_summary).
 */
export interface RevisionSummary {
  id: number;
  number: number;
  author: string;
  created_at: string;
  source: string;
  slices: number[];
  model_version?: string;
  model_label?: string;
  predicted_slices?: number[];
  voxel_count?: number;
  restored_from?: number | null;
  inputs?: {
    [k: string]: unknown | undefined;
  };
}
export interface Presence {
  type: "presence";
  series_id: number;
  users: PresenceUser[];
}
/**
 * Cases were assigned to this user in a project (added: how many new tasks, when known).
 */
export interface QueueChanged {
  type: "queue.changed";
  project: number;
  added?: number | null;
}
/**
 * A case of this user's moved on in the review workflow (started, submitted, approved, sent back).
 */
export interface AssignmentUpdated {
  type: "assignment.updated";
  assignment: AssignmentState;
}
export interface AssignmentState {
  id: number;
  state: string;
}
/**
 * The batch of ``log`` with this request_id is stored (``duplicates``: events already there).
 */
export interface LogAck {
  type: "log.ack";
  request_id?: string | null;
  stored: number;
  duplicates: number;
}
/**
 * A comment was written on a case of this series; sent only to those who may read it (the case's
 * annotator, the project's reviewers and owners).
 */
export interface CommentCreated {
  type: "comment.created";
  comment: CommentInfo;
}
/**
 * A review comment on one assignment (annotator/actions/review.py comment_info). ``slice_index``, ``x``
 * and ``y`` (image pixels: column, row) are all set when it is pinned, else all null.
 */
export interface CommentInfo {
  id: number;
  assignment: number;
  series_id: number;
  author: string;
  text: string;
  label_id?: number | null;
  slice_index?: number | null;
  x?: number | null;
  y?: number | null;
  requests_changes?: boolean;
  created_at: string;
  resolved?: boolean;
  resolved_by?: string | null;
}
/**
 * A comment was marked resolved (or open again).
 */
export interface CommentUpdated {
  type: "comment.updated";
  comment: CommentInfo;
}
/**
 * A training run moved on: its phase, progress, and the loss of the steps since the last message.
 */
export interface TrainingProgressMessage {
  type: "training.progress";
  project: number;
  job_id: number;
  phase: string;
  progress: number;
  message: string;
  epoch?: number;
  max_epochs?: number;
  points?: LossPoint[];
  validation?: number[] | null;
}
/**
 * One optimiser step of a training run.
 */
export interface LossPoint {
  step: number;
  epoch: number;
  loss: number;
}
/**
 * A version was created (a candidate), promoted, rejected or rolled back; ``active`` is the project's
 * active version after the change (null: the base model, before any run).
 */
export interface ModelVersionChanged {
  type: "model_version.changed";
  project: number;
  version: ModelVersionInfo;
  active: number | null;
}
/**
 * A model version as the versions page shows it (annotator/actions/model_versions.py version_info).
 */
export interface ModelVersionInfo {
  id: number;
  number: number;
  project: number;
  parent: number | null;
  replaced: number | null;
  state: "candidate" | "promoted" | "rejected" | "rolled_back";
  active: boolean;
  model_name: string;
  version: string;
  sha256: string;
  encoder_sha256: string;
  created_at: string;
  promoted_at?: string | null;
  rolled_back_at?: string | null;
  job?: number | null;
  cases_train?: number;
  cases_heldout?: number;
  recipe?: {
    [k: string]: unknown | undefined;
  };
  metrics?: {
    [k: string]: unknown | undefined;
  };
  decision?: {
    [k: string]: unknown | undefined;
  };
  loss_curve?: LossPoint[];
  validation_curve?: {
    [k: string]: unknown | undefined;
  }[];
}

/** The server message whose `type` is `T`. */
export type ServerMessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;
