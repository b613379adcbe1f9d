/** One entry for every page: #app's data-page says which page this is (annotator/templates/annotator/app.html). */

import "./styles.css";
import type { PageContext } from "./pageContext";
import { Banner } from "./ui/banner";

function idOf(value: string | undefined): number | null {
  const n = Number(value);
  return value && Number.isInteger(n) && n > 0 ? n : null;
}

async function start(): Promise<void> {
  const root = document.getElementById("app");
  if (!root) return;
  const banner = new Banner();
  banner.catchGlobal();
  const data = root.dataset;
  const context: PageContext = {
    root,
    banner,
    username: data.username ?? "",
    projectId: idOf(data.projectId),
    seriesId: idOf(data.seriesId),
    role: data.role ?? null,
  };
  root.querySelector(".app-fallback")?.remove();
  document.body.appendChild(banner.element);
  try {
    switch (data.page) {
      case "projects":
        (await import("./pages/projects")).mount(context);
        break;
      case "project":
        (await import("./pages/project")).mount(context);
        break;
      case "models":
        (await import("./pages/models")).mount(context);
        break;
      case "viewer":
        (await import("./viewer/page")).mount(context);
        break;
      case "study":
        await (await import("./timing/studyPage")).mount(context);
        break;
      case "study-report":
        await (await import("./timing/reportPage")).mount(context);
        break;
      default:
        banner.show(`Unknown page ${JSON.stringify(data.page)}.`, "error");
    }
  } catch (error) {
    banner.error(error, "This page could not start");
  }
}

void start();
