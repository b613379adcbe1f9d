/**
 * The team workflow's REST paths and payloads (annotator/api/tasks.py, review.py, labels.py): tasks and
 * cases, the queue and Next case, review (every annotator's masks, agreement, consensus), comments and
 * label edits. Shared by the project page and the viewer.
 */

import type { CommentInfo, RevisionSummary } from "./protocol";

export const teamEndpoints = {
  tasks: (projectId: number) => `/api/projects/${projectId}/tasks/`,
  queue: (projectId: number) => `/api/projects/${projectId}/queue/`,
  nextCase: (projectId: number) => `/api/projects/${projectId}/queue/next/`,
  reviews: (projectId: number, state = "submitted") => `/api/projects/${projectId}/reviews/?state=${state}`,
  assignment: (id: number) => `/api/assignments/${id}/`,
  assignmentAction: (id: number, action: "start" | "submit" | "approve" | "send_back") => `/api/assignments/${id}/${action}/`,
  caseOf: (id: number) => `/api/assignments/${id}/case/`,
  comments: (assignmentId: number) => `/api/assignments/${assignmentId}/comments/`,
  requestChanges: (assignmentId: number) => `/api/assignments/${assignmentId}/request_changes/`,
  comment: (id: number) => `/api/comments/${id}/`,
  taskReview: (taskId: number) => `/api/tasks/${taskId}/review/`,
  agreement: (taskId: number) => `/api/tasks/${taskId}/agreement/`,
  consensus: (taskId: number) => `/api/tasks/${taskId}/consensus/`,
  labels: (projectId: number) => `/api/projects/${projectId}/labels/`,
  label: (projectId: number, labelId: number) => `/api/projects/${projectId}/labels/${labelId}/`,
  labelOrder: (projectId: number) => `/api/projects/${projectId}/labels/order/`,
  restore: (seriesId: number, labelId: number, revisionId: number) => `/api/series/${seriesId}/masks/${labelId}/revisions/${revisionId}/restore/`,
};

export type CaseState = "todo" | "in_progress" | "submitted" | "approved" | "returned";

/** What people read for a case's state (the server's display names, annotator/models/tasks.py). */
export const STATE_LABELS: Record<CaseState, string> = {
  todo: "Not started",
  in_progress: "In progress",
  submitted: "Submitted",
  approved: "Approved",
  returned: "Changes requested",
};

export function stateLabel(state: string): string {
  return STATE_LABELS[state as CaseState] ?? state;
}

export interface CaseProgress {
  labels: number;
  masks: number;
  slices: number;
  /** null until the timing work (issue 12) measures active time */
  active_seconds: number | null;
}

export interface AssignmentInfo {
  id: number;
  task: number;
  series: number;
  annotator: number;
  username: string;
  state: CaseState;
  state_label?: string;
  progress?: CaseProgress | null;
  review_comment: string;
  reviewed_by: string | null;
  submitted_at?: string | null;
}

export interface TaskInfo {
  id: number;
  project: number;
  series: number;
  series_description: string;
  labels: number[];
  priority: number;
  instructions: string;
  assignments: AssignmentInfo[];
  open_slots: number;
}

export interface QueueInfo {
  ordering: string;
  assigned: AssignmentInfo[];
  open: TaskInfo[];
}

export interface MemberInfo {
  user: number;
  username: string;
  email?: string;
  role: "owner" | "annotator" | "reviewer";
}

/** A case as its annotator or a reviewer sees it (GET /api/assignments/{id}/case/). */
export interface CaseInfo {
  assignment: AssignmentInfo;
  task: { id: number; project: number; series: number; labels: number[]; instructions: string; priority: number };
  comments: CommentInfo[];
}

/** What the review view shows of a task (GET /api/tasks/{id}/review/). */
export interface TaskReview {
  task: number;
  series: number;
  labels: number[];
  instructions: string;
  assignments: {
    id: number;
    annotator: number;
    username: string;
    state: CaseState;
    state_label: string;
    color: string;
    masks: Record<string, RevisionSummary | null>;
  }[];
  consensus: { color: string; masks: Record<string, RevisionSummary | null> };
}

export interface AgreementInfo {
  task: number;
  labels: { label: number; annotators: string[]; pairs: { a: string; b: string; dice: number; slices: Record<string, number> }[] }[];
}

/** The viewer URL of a case: the series, opened for that assignment. */
export function caseUrl(seriesId: number, assignmentId: number): string {
  return `/series/${seriesId}/?assignment=${assignmentId}`;
}

/** "12 min", "1 h 05 min", or "—" before the timing work fills it in. */
export function formatActive(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}
