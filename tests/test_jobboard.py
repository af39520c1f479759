"""The job board at /jobs in headless Debian chromium, against a real server and worker.

The page uses the official graphql-ws client (vendored), so this also shows that a
client nobody here wrote follows jobs over graphql-transport-ws.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.clients_support import CHROMEDRIVER, CHROMIUM, ensure_test_tools

pytestmark = pytest.mark.usefixtures("worker_process")

T = TypeVar("T")
# The page's --completed colour, rgb(22, 163, 74).
COMPLETED_GREEN = (22, 163, 74)
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
    "--force-device-scale-factor=1",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    ensure_test_tools()
    options = webdriver.ChromeOptions()
    # Debian's chromium and its matching chromedriver: nothing is downloaded.
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait(check: Callable[[], T | None], *, timeout: float = 60, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def open_board(browser: WebDriver, api_url: str, api_key: str) -> None:
    browser.get(f"{api_url}/jobs")
    browser.find_element(By.ID, "key").send_keys(api_key)
    browser.find_element(By.CSS_SELECTOR, "#connect button[type=submit]").click()
    state = browser.find_element(By.ID, "state")
    wait(lambda: state.get_attribute("data-state") == "live", timeout=20, what="a live socket")
    assert api_key not in browser.current_url
    # graphql-ws acknowledges the connection before the server has set up jobEvents.
    time.sleep(0.5)


def row_of(browser: WebDriver, job_id: str) -> WebElement | None:
    rows = browser.find_elements(By.CSS_SELECTOR, f'tr[data-job-id="{job_id}"]')
    return rows[0] if rows else None


async def submit(api_url: str, api_key: str, document: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}) as client:
        answer = (await client.post(f"{api_url}/graphql", json={"query": document})).json()
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


def watch_row(browser: WebDriver, job_id: str, until: str) -> list[tuple[str, int]]:
    """(status, progress) as the page draws them, until the status is `until`."""
    drawn: list[tuple[str, int]] = []

    def sample() -> bool:
        row = row_of(browser, job_id)
        if row is None:
            return False
        bar = row.find_element(By.CSS_SELECTOR, ".bar")
        now = (row.get_attribute("data-status") or "", int(bar.get_attribute("aria-valuenow") or 0))
        if not drawn or drawn[-1] != now:
            drawn.append(now)
        return now[0] == until

    wait(sample, what=f"{job_id} to show {until}")
    return drawn


def share_of_colour(
    image: Image.Image, box: tuple[int, int, int, int], rgb: tuple[int, ...]
) -> float:
    data = image.convert("RGB").crop(box).tobytes()
    pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
    close = sum(
        1 for pixel in pixels if all(abs(a - b) <= 6 for a, b in zip(pixel, rgb, strict=True))
    )
    return close / len(pixels)


async def test_the_board_draws_a_new_job_live_until_completed(
    browser: WebDriver, api_url: str, api_key: str, replay: httpx.AsyncClient, tmp_path: Path
) -> None:
    open_board(browser, api_url, api_key)
    # Slow answers stretch the job so the page draws it in between.
    await replay.post("/_admin/latency", json={"ms": 200})
    data = await submit(
        api_url,
        api_key,
        'mutation { collectRaces(input: {date: "20250524", meet: 2, enrich: false}) { id } }',
    )
    job_id = data["collectRaces"]["id"]

    drawn = watch_row(browser, job_id, until="COMPLETED")

    assert drawn[-1] == ("COMPLETED", 100)
    assert any(status == "PROCESSING" and 0 < progress < 100 for status, progress in drawn), drawn
    progress = [value for _, value in drawn]
    assert progress == sorted(progress), drawn
    row = row_of(browser, job_id)
    assert row is not None
    assert row.find_element(By.CSS_SELECTOR, ".status").text == "COMPLETED"
    assert row.find_element(By.CSS_SELECTOR, ".label").text == "100% · 7/7"
    assert not row.find_element(By.CSS_SELECTOR, ".cancel").is_displayed()
    # Newest first: the job that just ran heads the list.
    first = browser.find_element(By.CSS_SELECTOR, "#jobs tbody tr")
    assert first.get_attribute("data-job-id") == job_id

    screenshot = tmp_path / "jobboard.png"
    assert browser.save_screenshot(str(screenshot))
    bar = row.find_element(By.CSS_SELECTOR, ".bar")
    fill = row.find_element(By.CSS_SELECTOR, ".fill")
    assert fill.rect["width"] == pytest.approx(bar.rect["width"], abs=1)
    with Image.open(screenshot) as image:
        assert image.size == tuple(browser.execute_script(
            "return [window.innerWidth, window.innerHeight]"
        ))  # fmt: skip
        # The upper quarter of the bar, clear of its centred label: drawn all green.
        x, y = int(bar.rect["x"]), int(bar.rect["y"])
        width, height = int(bar.rect["width"]), int(bar.rect["height"])
        top = (x + 2, y + 1, x + width - 2, y + max(2, height // 4))
        assert share_of_colour(image, top, COMPLETED_GREEN) > 0.95


async def test_the_cancel_button_cancels_a_running_job(
    browser: WebDriver, api_url: str, api_key: str, replay: httpx.AsyncClient
) -> None:
    open_board(browser, api_url, api_key)
    await replay.post("/_admin/latency", json={"ms": 500})
    data = await submit(
        api_url,
        api_key,
        'mutation { collectRaces(input: {date: "20250530", meet: 2, raceNumbers: [2, 3, 4],'
        " enrich: false}) { id } }",
    )
    job_id = data["collectRaces"]["id"]
    watch_row(browser, job_id, until="PROCESSING")
    row = row_of(browser, job_id)
    assert row is not None
    row.find_element(By.CSS_SELECTOR, ".cancel").click()

    drawn = watch_row(browser, job_id, until="CANCELLED")

    assert drawn[-1][1] < 100, drawn
    assert not row.find_element(By.CSS_SELECTOR, ".cancel").is_displayed()
    answer = await submit(api_url, api_key, f'{{ job(id: "{job_id}") {{ status }} }}')
    assert answer["job"]["status"] == "CANCELLED"
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
