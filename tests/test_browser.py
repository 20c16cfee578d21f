"""The live page and an exported run in a real browser (issue 31): headless
Chromium from Debian's packages driven by Selenium through the system's
chromedriver.  ``.ci/run`` installs both and sets ``HOPDYN_BROWSER_TESTS=required``,
so in CI a missing browser fails these tests instead of skipping them.

The page exposes the energy, model time and frame count in ``#energy``,
``#time`` and ``#frames``; the tests read those (and the last frame's
activations in ``window.hopdynLive``) and compare the image with the stored
glyphs of the scenario, loaded independently with ``hd.load_scenario``.
``HOPDYN_SCREENSHOT=path.png`` keeps a screenshot of the page
(``scripts/screenshot.py`` makes the one in the docs)."""

import os
import shutil
import time

import numpy as np
import pytest

import hopdyn as hd

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
REQUIRED = os.environ.get("HOPDYN_BROWSER_TESTS") == "required"

if not (CHROMIUM and DRIVER):
    if REQUIRED:
        pytest.fail("HOPDYN_BROWSER_TESTS=required but chromium or chromedriver is missing", pytrace=False)
    pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")


def browser():
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,950"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def wait(predicate, timeout=30.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    from hopdyn.bench.live import start_server, stop_server

    env = {**os.environ, "HOPDYN_COMPILATION_CACHE": str(cache), "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu"}
    proc, url, _ = start_server(env)
    yield url
    assert stop_server(proc)[0] == 0


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def glyphs():
    return hd.load_scenario("image-label-generate").patterns["Images"].reshape(10, -1)


def text(d, id_):
    return d.find_element("id", id_).text


def frames(d) -> int:
    return int(text(d, "frames") or 0)


def image(d) -> np.ndarray:
    return np.asarray(d.execute_script("return window.hopdynLive.frame.layers.x"), float)


def corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def open_page(d, url):
    d.get(url)
    wait(lambda: frames(d) > 3)
    d.execute_script("window.hopdynLive.send({switch_every: 0})")  # the test switches labels itself


def test_the_page_runs_live_and_its_energy_falls(server, driver):
    start = time.monotonic()
    driver.get(server)
    wait(lambda: frames(driver) >= 1)
    first_frame = time.monotonic() - start
    driver.execute_script("window.hopdynLive.send({switch_every: 0})")
    e0 = float(text(driver, "energy"))
    n0 = frames(driver)
    time.sleep(1.5)
    n1, e1 = frames(driver), float(text(driver, "energy"))
    assert n1 - n0 >= 15, (n0, n1)  # frames keep coming (the bench measures the rate)
    assert e1 < e0, (e0, e1)
    assert float(text(driver, "time")) > 0
    assert "no rise" in text(driver, "lyapunov")
    assert first_frame < 10.0
    if os.environ.get("HOPDYN_SCREENSHOT"):
        driver.save_screenshot(os.environ["HOPDYN_SCREENSHOT"])


def test_switching_the_label_draws_that_glyph(server, driver, glyphs):
    from selenium.webdriver.support.ui import Select

    open_page(driver, server)
    Select(driver.find_element("id", "label")).select_by_value("7")
    wait(lambda: driver.execute_script("return window.hopdynLive.frame.label") == 7)
    before = corr(image(driver), glyphs[7])
    wait(lambda: corr(image(driver), glyphs[7]) > 0.95, timeout=60)
    assert corr(image(driver), glyphs[7]) > before
    assert corr(image(driver), glyphs[7]) > max(corr(image(driver), g) for i, g in enumerate(glyphs) if i != 7)


def test_pause_stops_the_frames_and_resume_goes_on(server, driver):
    open_page(driver, server)
    driver.find_element("id", "pause").click()
    wait(lambda: text(driver, "status") == "paused")
    n = frames(driver)
    time.sleep(1.0)
    assert frames(driver) == n
    driver.find_element("id", "pause").click()
    wait(lambda: frames(driver) > n + 5)


def test_a_bad_beta_shows_a_message_and_the_stream_goes_on(server, driver):
    open_page(driver, server)
    beta = driver.find_element("id", "beta")
    beta.clear()
    beta.send_keys("-3\n")
    driver.execute_script("document.getElementById('beta').dispatchEvent(new Event('change'))")
    wait(lambda: "beta" in text(driver, "message"))
    assert "> 0" in text(driver, "message")
    n = frames(driver)
    wait(lambda: frames(driver) > n + 10)


def test_two_pages_run_independently(server, driver):
    open_page(driver, server)
    first = driver.current_window_handle
    driver.switch_to.new_window("tab")
    open_page(driver, server)
    second = driver.current_window_handle
    driver.find_element("id", "pause").click()  # pause the second page only
    wait(lambda: text(driver, "status") == "paused")
    driver.switch_to.window(first)
    n = driver.execute_script("return window.hopdynLive.frames")
    time.sleep(1.0)
    assert driver.execute_script("return window.hopdynLive.frames") > n + 5  # the first page still runs
    assert driver.execute_script("return window.hopdynLive.frame.paused") is False
    driver.switch_to.window(second)
    driver.close()
    driver.switch_to.window(first)


def test_an_exported_run_opens_offline_and_its_slider_moves(tmp_path, glyphs):
    from hopdyn.cli import main

    out = tmp_path / "run"
    assert main(["run", "image-label-generate", "--out", str(out), "-q", "--no-plots"]) == 0
    assert main(["export-html", str(out), "-q"]) == 0
    d = browser()
    try:
        d.get((out / "run.html").as_uri())
        wait(lambda: text(d, "frames").startswith("1 of"))
        rows = int(text(d, "frames").split(" of ")[1])
        d.execute_script(
            "const s = document.getElementById('slider'); s.value = s.max; s.dispatchEvent(new Event('input'))"
        )
        assert text(d, "frames") == f"{rows} of {rows}"
        last = np.asarray(d.execute_script("const r = window.hopdynRun; return r.data.members[0].layers.x[r.index]"))
        assert corr(last, glyphs[0]) > 0.999
        e_last = float(text(d, "energy"))
        d.execute_script(
            "const s = document.getElementById('slider'); s.value = 0; s.dispatchEvent(new Event('input'))"
        )
        assert float(text(d, "energy")) > e_last
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        d.quit()
