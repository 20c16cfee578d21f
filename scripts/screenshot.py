"""Take the screenshot of the live page shown in the README and docs
(``plots/live/page.png``) by running the browser test that watches the page
with ``HOPDYN_SCREENSHOT`` set: the picture is of the page the tests check.

    python scripts/screenshot.py
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
target = ROOT / "plots" / "live" / "page.png"
target.parent.mkdir(parents=True, exist_ok=True)
env = {**os.environ, "HOPDYN_SCREENSHOT": str(target), "JAX_PLATFORMS": "cpu"}
test = "tests/test_browser.py::test_the_page_runs_live_and_its_energy_falls"
code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT, env=env)
if code == 0:
    print(f"{target.relative_to(ROOT)} written")
sys.exit(code)
