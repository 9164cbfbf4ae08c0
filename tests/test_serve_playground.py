"""The playground page of ``cactus-router serve`` in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium): type a prompt, route, move the slider, read the page.

Chromium is kept off the network: its background services are switched off and every host name
but the service's loopback address fails to resolve.
"""

from __future__ import annotations

import shutil

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="the playground test needs selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from cactus_router import Router  # noqa: E402

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="no Chromium here (apt-get install chromium chromium-driver)")

PROMPT = "Write a SQL query that finds duplicate emails"
OOD_PROMPT = "Bonjour, comment ça va ?"
OFFLINE = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-pings",
           "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in OFFLINE:
        options.add_argument(flag)
    # An explicit driver path: selenium then runs no driver manager (which would go online).
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def route_on_page(browser, prompt: str) -> str:
    """Type ``prompt``, press Route, and return the chosen model the page shows once it has changed."""
    before = browser.find_element(By.ID, "summary").text
    box = browser.find_element(By.ID, "prompt")
    box.clear()
    box.send_keys(prompt)
    browser.find_element(By.ID, "route").click()
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "summary").text not in ("", before))
    return browser.find_element(By.ID, "model").text


def test_the_page_routes_a_typed_prompt(served, browser):
    """The page shows the chosen model, every model's terms, the cluster's tasks and that no policy applied."""
    router = Router.load("default")
    browser.get(served.url + "/")
    want = router.explain(PROMPT)
    assert route_on_page(browser, PROMPT) == want.decision.model
    rows = browser.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == [t.model for t in want.terms]
    tasks = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#tasks li")]
    assert tasks == [f"{t}: {n}" for t, n in want.cluster_tasks]
    applied = browser.find_element(By.ID, "applied").text
    assert applied.startswith("none") if not want.decision.applied else want.decision.applied[0].policy in applied


def test_the_slider_and_a_policy(served, browser):
    """Moving the slider to 1 re-routes at cost_bias 1; an out-of-distribution prompt shows the policy's reason."""
    router = Router.load("default")
    browser.get(served.url + "/")
    route_on_page(browser, PROMPT)
    before = browser.find_element(By.ID, "summary").text
    browser.find_element(By.ID, "cost-bias").send_keys(Keys.END)
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "summary").text != before)
    assert "cost_bias 1" in browser.find_element(By.ID, "summary").text
    assert browser.find_element(By.ID, "model").text == router.route(PROMPT, cost_bias=1.0).model
    assert route_on_page(browser, OOD_PROMPT) == router.route(OOD_PROMPT, cost_bias=1.0).model
    first = router.route(OOD_PROMPT, cost_bias=1.0).applied[0]
    assert first.policy == "out-of-distribution"
    assert browser.find_element(By.ID, "applied").text.splitlines()[0] == f"{first.policy}: {first.reason}"
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
