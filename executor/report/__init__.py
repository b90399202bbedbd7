"""`gpusched report`: PNG figures and one self-contained report.html from any gpusched output folder.

`detect` tells a folder's kind by its marker files, `loaders` reads it, `stats` reduces it to
what is drawn (bounded whatever the run size), `figures` draws PNGs, `html` writes the page and
`build` puts it together. Entry point: `build_report(dirs, out_dir, max_gantt_jobs=200)`.
"""

from executor.report.build import DEFAULT_MAX_GANTT_JOBS, REPORT_FILE, ReportResult, build_report
from executor.report.detect import FolderKind, detect_kind

__all__ = ["DEFAULT_MAX_GANTT_JOBS", "REPORT_FILE", "FolderKind", "ReportResult", "build_report", "detect_kind"]
