/** The REST paths of annotation time (annotator/api/timing.py) and the shapes they answer with. */

export const endpointsTiming = {
  interactions: () => `/api/interactions/`,
  seriesTiming: (seriesId: number, session: string, assignmentId: number | null) =>
    `/api/series/${seriesId}/timing/?exclude_session=${encodeURIComponent(session)}${assignmentId !== null ? `&assignment=${assignmentId}` : ""}`,
  settings: (projectId: number) => `/api/projects/${projectId}/timing/`,
  csv: (projectId: number, what: "tasks" | "masks") => `/api/projects/${projectId}/timing/${what}.csv`,
  modelVersions: (projectId: number) => `/api/projects/${projectId}/timing/model-versions/`,
  studies: (projectId: number) => `/api/projects/${projectId}/timing-studies/`,
  study: (studyId: number) => `/api/timing-studies/${studyId}/`,
  mine: (studyId: number) => `/api/timing-studies/${studyId}/mine/`,
  next: (studyId: number) => `/api/timing-studies/${studyId}/next/`,
  report: (studyId: number) => `/api/timing-studies/${studyId}/report/`,
  reportCsv: (studyId: number) => `/api/timing-studies/${studyId}/report.csv`,
  studyOfAssignment: (assignmentId: number) => `/api/timing-studies/by-assignment/${assignmentId}/`,
  assignmentAction: (assignmentId: number, action: "start" | "submit") => `/api/assignments/${assignmentId}/${action}/`,
  studyPage: (projectId: number, studyId: number) => `/projects/${projectId}/timing-studies/${studyId}/`,
  reportPage: (projectId: number, studyId: number) => `/projects/${projectId}/timing-studies/${studyId}/report/`,
  members: (projectId: number) => `/api/projects/${projectId}/members/`,
  studies_of_project: (projectId: number) => `/api/projects/${projectId}/studies/`,
};

/** The study id in a timing page's path (/projects/{p}/timing-studies/{id}/…). */
export function studyIdFromPath(path: string): number | null {
  const match = /\/timing-studies\/(\d+)\//.exec(path);
  return match ? Number(match[1]) : null;
}

export interface LabelTiming {
  active_ms: number;
  counts: Record<string, number>;
  model_versions: string[];
  model_used: boolean;
}

export interface SeriesTiming {
  idle_threshold_s: number;
  labels: Record<string, LabelTiming>;
}

export interface AssignmentStudy {
  study_task: number | null;
  study?: number;
  study_name?: string;
  project?: number;
  condition?: "manual" | "assisted";
  model_version?: string;
  position?: number;
  total?: number;
  state?: string;
  instructions?: string;
  mine?: boolean;
}

export interface StudyRun {
  study_task: number;
  assignment: number;
  position: number;
  condition: "manual" | "assisted";
  model_version: string;
  state: string;
  series: number;
  series_description: string;
  label: number;
  label_name: string;
  participant?: string;
}

export interface NextTask {
  task: StudyRun | null;
  viewer_url: string | null;
}

export interface StudySummary {
  id: number;
  name: string;
  simulated: boolean;
  model_version: string;
  seed: number;
  washout: number;
  instructions: string;
  design: Record<string, unknown>;
  created_at: string;
  cases: number;
  participants: number;
}

export interface MyStudy {
  id: number;
  name: string;
  instructions: string;
  project: number;
  tasks: StudyRun[];
}
