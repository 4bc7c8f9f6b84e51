"""Screenshot a run's report.html with headless Chromium, to look at it as a reader would.

    python tools/screenshot_report.py RUN [OUT.png]      # needs Debian's chromium
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def main() -> None:
    run = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else run / "report-screenshot.png"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium is not installed: apt-get install chromium")
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", f"--screenshot={out.resolve()}",
                    "--window-size=1200,3000", (run / "report.html").resolve().as_uri()], check=True,
                   stderr=subprocess.DEVNULL)
    print(out)


if __name__ == "__main__":
    main()
