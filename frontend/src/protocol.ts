/** Message shapes of docs/protocol.md (the WebSocket protocol), as the client reads them. */

import type { Rle } from "./rle";

export interface Scope {
  kind: "series" | "job";
  id: number;
}

export interface PresenceUser {
  username: string;
  slice_index: number | null;
}

export interface EmbeddingsState {
  preset: string;
  ready: number[];
  total: number;
}

export interface JobState {
  id: number;
  kind: string;
  state: "pending" | "running" | "done" | "failed" | "cancelled";
  progress: number;
  message: string;
  error: string;
}

export interface RevisionSummary {
  id: number;
  number: number;
  author: string;
  created_at: string;
  source: string;
  slices: number[];
}

export interface PromptMessage {
  series_id: number;
  slice_index: number;
  box?: [number, number, number, number];
  points?: [number, number][];
  point_labels?: (0 | 1)[];
  mask_input?: "previous";
  multimask?: boolean;
  label_id?: number;
}

export interface PromptResult {
  type: "prompt.result";
  request_id: string;
  series_id: number;
  slice_index: number;
  masks: { rle: Rle; iou: number }[];
  model: string;
  timings: { decode_ms: number; total_ms: number };
}

export type ServerMessage =
  | { type: "hello"; user: string; user_id: number; socket_id?: string }
  | { type: "pong"; request_id?: string }
  | { type: "error"; request_id: string | null; code: string; message: string }
  | { type: "subscribed"; request_id?: string; series?: unknown; embeddings?: EmbeddingsState; presence?: PresenceUser[] }
  | { type: "unsubscribed"; request_id?: string }
  | PromptResult
  | { type: "embedding.ready"; series_id: number; slice_index: number; preset: string }
  | { type: "propagate.slice"; job_id: number; series_id: number; slice_index: number; rle: Rle; iou: number; model: string | null }
  | { type: "job.created"; request_id?: string; job: JobState }
  | { type: "job.progress"; request_id?: string; job: JobState }
  | { type: "revision.created"; series_id: number; label_id: number; annotator: string; revision: RevisionSummary }
  | { type: "presence"; series_id: number; users: PresenceUser[] };

export type ServerMessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;
