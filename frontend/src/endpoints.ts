/**
 * Every REST path the UI calls, in one place. Paths marked ASSUMED follow the contract the backend is being
 * built to (docs/protocol.md and the study/series work in progress); the rest exist in annotator/api/urls.py.
 */

export const endpoints = {
  projects: () => `/api/projects/`,
  project: (id: number) => `/api/projects/${id}/`,
  /** Studies of a project with their series (annotator/api/studies.py); per-series progress is ASSUMED. */
  studies: (projectId: number) => `/api/projects/${projectId}/studies/`,
  /** ASSUMED */
  members: (projectId: number) => `/api/projects/${projectId}/members/`,
  /** ASSUMED */
  tasks: (projectId: number) => `/api/projects/${projectId}/tasks/`,
  /** A project's model versions, the training run and the active-learning settings (annotator/api/model_versions.py). */
  modelVersions: (projectId: number) => `/api/projects/${projectId}/model-versions/`,
  series: (id: number) => `/api/series/${id}/`,
  /** Little-endian raw intensities of one slice; headers X-Dtype and X-Shape "rows,cols[,3]". */
  sliceRaw: (series: { id: number; raw_slice_url?: string }, z: number) =>
    series.raw_slice_url ? series.raw_slice_url.replace("{index}", String(z)) : `/api/series/${series.id}/slices/${z}/raw`,
  /** One plane resampled to square pixels (?plane=), or a reformat on the stored voxel grid (?axis=y|x). */
  planeRaw: (series: { id: number; raw_slice_url?: string }, plane: string, index: number) =>
    `${endpoints.sliceRaw(series, index)}?plane=${plane}`,
  voxelPlaneRaw: (series: { id: number; raw_slice_url?: string }, axis: "y" | "x", index: number) =>
    `${endpoints.sliceRaw(series, index)}?axis=${axis}`,
  seriesMasks: (seriesId: number) => `/api/series/${seriesId}/masks/`,
  labelMask: (seriesId: number, labelId: number) => `/api/series/${seriesId}/masks/${labelId}/`,
  revisions: (seriesId: number, labelId: number) => `/api/series/${seriesId}/masks/${labelId}/revisions/`,
};

/** Sent with REST saves so the server does not echo revision.created back to the socket that saved. */
export const SOCKET_HEADER = "X-Delineate-Socket";

export interface LabelInfo {
  id: number;
  name: string;
  value: number;
  color: string;
  window_preset: string;
}

export interface ProjectInfo {
  id: number;
  name: string;
  description: string;
  settings: Record<string, unknown>;
  labels: LabelInfo[];
  role: "owner" | "annotator" | "reviewer" | null;
  created_at: string;
  /** the model prompts are decoded with, and whether it follows corrective clicks */
  model?: { name: string; clicks_trained: boolean };
}

export interface WindowPresetInfo {
  name: string;
  level: number;
  width: number;
}

/** One plane of a series (annotator/api/studies.py SeriesSerializer.planes; ml_worker/planes.py PlaneGrid). */
export interface PlaneGridInfo {
  depth: number;
  rows: number;
  cols: number;
  display_rows: number;
  display_cols: number;
  pixel_mm: [number, number];
}

export interface SeriesInfo {
  id: number;
  study?: number;
  project?: number;
  description?: string;
  kind: "volume" | "image";
  modality: string;
  /** [Z, Y, X] or [1, Y, X, 3] for colour images */
  shape: number[];
  dtype: string;
  num_slices?: number;
  window_presets: WindowPresetInfo[];
  default_window: string;
  intensity_range?: [number, number];
  thumbnail_url?: string | null;
  raw_slice_url?: string;
  progress?: { annotated_slices?: number; total?: number; state?: string } | null;
  /** voxel size in mm, [z, y, x] */
  spacing?: number[];
  /** 4 × 4, (x, y, z) voxel indices → patient LPS mm */
  affine?: number[][];
  /** the planes a viewer can show: axial, coronal and sagittal of a volume */
  planes?: Partial<Record<"axial" | "coronal" | "sagittal", PlaneGridInfo>>;
}

export interface StudyInfo {
  id: number;
  description: string;
  study_date?: string | null;
  source?: string;
  series: SeriesInfo[];
}
