/**
 * What every page receives from the entry point (main.ts): where to mount, the message banner and who is
 * looking. Its own module so that pages import it without importing main.ts, which imports the pages.
 */

import type { Banner } from "./ui/banner";

export interface PageContext {
  root: HTMLElement;
  banner: Banner;
  username: string;
  projectId: number | null;
  seriesId: number | null;
  role: string | null;
}
