"""GraphiQL and the job board in headless chromium that can reach no host but the test
server: every library the pages use has to come from the API itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from kra_graphql.config import Settings
from tests.clients_support import CHROMEDRIVER, CHROMIUM, ensure_test_tools
from tests.conftest import api_server
from tests.test_jobboard import CHROMIUM_FLAGS, row_of, submit, wait, watch_row

pytestmark = pytest.mark.usefixtures("worker_process")

COLLECT = 'mutation { collectRaces(input: {date: "20250524", meet: 2, enrich: false}) { id } }'
HEALTH = "{ health { database redis worker queuedJobs runningJobs } }"
# The Headers tab is the editor tools pane shown on load.
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"


@pytest.fixture(scope="module")
def offline_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    ensure_test_tools()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    # Every host but loopback goes through a proxy nobody listens on: a page that needs a
    # CDN fails to load, as it would on a machine without internet access.
    options.add_argument("--proxy-server=http://127.0.0.1:9")
    options.add_argument("--proxy-bypass-list=127.0.0.1")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def editor_text(browser: WebDriver, selector: str) -> str:
    text = browser.execute_script(
        "const e = document.querySelector(arguments[0]);"
        "return e && e.CodeMirror ? e.CodeMirror.getValue() : null;",
        f"{selector} .CodeMirror",
    )
    return text or ""


def set_editor(browser: WebDriver, selector: str, text: str) -> None:
    browser.execute_script(
        "document.querySelector(arguments[0]).CodeMirror.setValue(arguments[1]);",
        f"{selector} .CodeMirror",
        text,
    )


def run_and_read(browser: WebDriver, until: str) -> str:
    browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
    shown = [""]

    def result() -> str | None:
        shown[0] = editor_text(browser, ".result-window")
        return shown[0] if until in shown[0] else None

    try:
        return wait(result, what=f"{until} in the result")
    except TimeoutError as timeout:
        raise AssertionError(f"the result shows {shown[0]!r}") from timeout


def resources_from_elsewhere(browser: WebDriver, api_url: str) -> list[str]:
    names: list[str] = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name);"
    )
    return [name for name in names if not name.startswith((api_url, api_url.replace("http", "ws")))]


async def test_graphiql_works_without_internet(
    offline_browser: WebDriver, api_url: str, api_key: str, replay: httpx.AsyncClient
) -> None:
    browser = offline_browser
    browser.get(f"{api_url}/graphql")
    wait(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".graphiql-query-editor .CodeMirror"),
        timeout=30,
        what="GraphiQL's editor",
    )
    assert HEALTH in editor_text(browser, ".graphiql-query-editor")
    # The Headers tab shows where a key goes; the placeholder itself is never sent.
    assert '"Authorization": "Bearer <key>"' in editor_text(browser, HEADERS_EDITOR)

    health = run_and_read(browser, "UP")
    assert re.search(r'"database":\s*"UP"', health), health

    # A job that takes a while, followed live over graphql-transport-ws with a real key.
    await replay.post("/_admin/latency", json={"ms": 200})
    job_id = (await submit(api_url, api_key, COLLECT))["collectRaces"]["id"]
    set_editor(browser, HEADERS_EDITOR, f'{{"Authorization": "Bearer {api_key}"}}')
    set_editor(
        browser,
        ".graphiql-query-editor",
        f'subscription {{ jobProgress(id: "{job_id}") {{ type job {{ id status progress }} }} }}',
    )
    event = run_and_read(browser, "COMPLETED")
    assert job_id in event
    assert re.search(r'"progress":\s*100', event), event

    browser.find_element(
        By.CSS_SELECTOR, 'button[aria-label="Show Documentation Explorer"]'
    ).click()
    search = wait(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".graphiql-doc-explorer-search input"),
        what="the docs explorer's search",
    )[0]
    search.send_keys("Race")
    wait(
        lambda: any(
            option.text.strip() == "Race"
            for option in browser.find_elements(
                By.CSS_SELECTOR, ".graphiql-doc-explorer-search [role=option]"
            )
        ),
        what="Race among the documented types",
    )
    assert resources_from_elsewhere(browser, api_url) == []


async def test_the_board_lists_jobs_without_a_key_in_development(
    offline_browser: WebDriver, api_url: str, api_key: str, replay: httpx.AsyncClient
) -> None:
    browser = offline_browser
    browser.get(f"{api_url}/jobs")
    state = browser.find_element(By.ID, "state")
    wait(lambda: state.get_attribute("data-state") == "live", timeout=20, what="a live socket")
    assert browser.find_element(By.ID, "key").get_attribute("value") == ""

    await replay.post("/_admin/latency", json={"ms": 200})
    job_id = (await submit(api_url, api_key, COLLECT))["collectRaces"]["id"]
    drawn = watch_row(browser, job_id, until="COMPLETED")

    assert drawn[-1] == ("COMPLETED", 100)
    row = row_of(browser, job_id)
    assert row is not None
    assert row.find_element(By.CSS_SELECTOR, ".label").text == "100% · 7/7"
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None


def test_production_serves_neither_graphiql_nor_its_files(
    settings: Settings, tmp_path: Path
) -> None:
    with api_server(settings, tmp_path / "api.log", ENVIRONMENT="production") as (url, _):
        page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
        asset = httpx.get(f"{url}/graphiql-assets/page.js")
    assert "graphiql-assets" not in page.text
    assert asset.status_code == 404
