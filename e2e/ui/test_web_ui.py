"""The web UI in a real browser (headless Chromium through Selenium), against a dev agent that
e2e/tests/web_ui.rs started. Usage:

    test_web_ui.py walkthrough ADDR SHOTS_DIR   # the lab's walkthrough, from the browser
    test_web_ui.py rollout ADDR SHOTS_DIR       # promote and fail a canary deployment
    test_web_ui.py acl ADDR SHOTS_DIR TOKEN     # "not allowed" until a token is set

In walkthrough mode the script asks the test to stop and restart the agent by printing
`RESTART-AGENT` and waiting for a line on stdin, to see the unreachable banner come and go.
"""

import json
import re
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 60
JOB = """job "hello" {
  datacenters = ["*"]
  group "g" {
    network {
      port "http" {}
    }
    service {
      name     = "hello-web"
      provider = "nomad"
      port     = "http"
      tags     = ["lab"]
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo tick $(date +%s); sleep 1; done"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""
BROKEN = 'job "broken" {\n  group "g" {\n    task "t" {\n      driver = \n    }\n  }\n}\n'
PAGES = ["jobs", "jobs/hello", "run", "nodes", "servers", "services"]


def api(addr, method, path, body=None, token=""):
    req = urllib.request.Request(addr + path, method=method)
    if token:
        req.add_header("X-Nomad-Token", token)
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(req, data=data, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text else None


def browser():
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900"]:
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def until(d, what, fn, timeout=WAIT):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2).until(lambda _: fn())
    except TimeoutException:
        toast = d.find_element(By.ID, "toast").get_attribute("textContent")
        raise AssertionError(f"timed out waiting for {what}; last message: {toast!r}; page:\n"
                             f"{d.find_element(By.ID, 'view').text[:3000]}")


def click(d, what, by, sel):
    """Clicks the first match, again if a live refresh replaced it in between."""
    def attempt():
        els = d.find_elements(by, sel)
        if not els:
            return False
        try:
            els[0].click()
            return True
        except StaleElementReferenceException:
            return False
    until(d, what, attempt)


def text_of(d, css):
    """The first match's text; "" while there is none or a live refresh just replaced it."""
    try:
        els = d.find_elements(By.CSS_SELECTOR, css)
        return els[0].text if els else ""
    except StaleElementReferenceException:
        return ""


def shoot(d, shots, name):
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    d.save_screenshot(f"{shots}/{name}-desktop-dark.png")
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
    for width, label in [(1280, "desktop"), (375, "phone")]:
        d.set_window_size(width, 900)
        time.sleep(0.3)  # layout settles after a resize; a screenshot only, nothing is asserted on it
        d.save_screenshot(f"{shots}/{name}-{label}.png")
        if width == 375:
            # Usable at phone width: nothing but tables' own scroll areas is wider than the screen.
            wide = d.execute_script("return document.documentElement.scrollWidth")
            assert wide <= 380, f"{name} is {wide}px wide at 375px"
    d.set_window_size(1280, 900)


def set_jobspec(d, text):
    area = d.find_element(By.ID, "jobspec")
    d.execute_script("arguments[0].value = arguments[1]", area, text)


def walkthrough(addr, shots):
    d = browser()
    try:
        d.get(addr + "/ui/")
        until(d, "the jobs page", lambda: text_of(d, "h1") == "Jobs")
        d.execute_script("window.__same_page = 1")
        shoot(d, shots, "jobs-empty")

        # Run: a syntax error shows file:line:col beside the text and registers nothing.
        d.find_element(By.LINK_TEXT, "Run").click()
        until(d, "the run page", lambda: d.find_elements(By.ID, "jobspec"))
        set_jobspec(d, BROKEN)
        d.find_element(By.ID, "plan").click()
        err = until(d, "the parse error", lambda: text_of(d, "#run-error"))
        assert re.search(r"input\.hcl:\d+:\d+", err), err
        assert api(addr, "GET", "/v1/jobs") == [], "a broken job was registered"

        # Plan: the diff and the dry run; then run with the plan's check index.
        set_jobspec(d, JOB)
        d.find_element(By.ID, "plan").click()
        until(d, "the plan's diff", lambda: 'Job: "hello"' in text_of(d, "#plan-diff"))
        assert "All tasks successfully allocated" in text_of(d, "#dry-run")
        assert text_of(d, "#check-index") == "0"
        shoot(d, shots, "run-plan")
        d.find_element(By.ID, "run").click()

        # The job page, without a reload: the allocation reaches running.
        until(d, "the job page", lambda: d.current_url.endswith("/ui/jobs/hello?namespace=default"))
        until(d, "a running allocation on the job page",
              lambda: "running" in text_of(d, "#job-allocs tbody tr"))
        assert d.execute_script("return window.__same_page") == 1, "the page was reloaded"
        shoot(d, shots, "job")

        # A stale check index is refused with the message.
        d.find_element(By.LINK_TEXT, "Run").click()
        until(d, "the run page", lambda: d.find_elements(By.ID, "jobspec"))
        set_jobspec(d, JOB.replace("cpu    = 20", "cpu    = 21"))
        d.find_element(By.ID, "plan").click()
        until(d, "the second plan", lambda: d.find_elements(By.ID, "run"))
        index = int(text_of(d, "#check-index"))
        assert index > 0, index
        api(addr, "POST", "/v1/job/hello/scale", {"Count": 2, "Target": {"Group": "g"}, "Message": "moved on"})
        d.find_element(By.ID, "run").click()
        err = until(d, "the stale index error", lambda: text_of(d, "#run-error"))
        assert "index" in err.lower(), err
        assert api(addr, "GET", "/v1/job/hello")["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"] == 20

        # The allocation page with live logs: a line printed after the page opened.
        d.find_element(By.LINK_TEXT, "Jobs").click()
        until(d, "the jobs list with hello", lambda: d.find_elements(By.LINK_TEXT, "hello"))
        click(d, "the job link", By.LINK_TEXT, "hello")
        click(d, "an allocation link", By.CSS_SELECTOR, "#job-allocs tbody tr a")
        opened = int(time.time())
        until(d, "a log line printed after the page opened", lambda: any(
            int(m) > opened for m in re.findall(r"tick (\d+)", text_of(d, "#log"))))
        until(d, "the task running", lambda: "running" in text_of(d, "#alloc-live"))
        shoot(d, shots, "alloc")

        # Servers and services.
        d.find_element(By.LINK_TEXT, "Servers").click()
        until(d, "the leader among the members", lambda: "yes" in text_of(d, "#servers-live tbody"))
        shoot(d, shots, "servers")
        d.find_element(By.LINK_TEXT, "Services").click()
        until(d, "the job's service with its tag",
              lambda: "hello-web" in text_of(d, "#services-live") and "lab" in text_of(d, "#services-live"))
        shoot(d, shots, "services")

        # The agent goes away: a banner says so, and the page recovers by itself.
        print("RESTART-AGENT", flush=True)
        until(d, "the unreachable banner", lambda: d.find_element(By.ID, "banner").is_displayed())
        print("BANNER-SEEN", flush=True)
        sys.stdin.readline()
        until(d, "the banner to go", lambda: not d.find_element(By.ID, "banner").is_displayed())

        # Scale a group, stop the job and start it again, from the job page.
        click(d, "the Jobs link", By.LINK_TEXT, "Jobs")
        click(d, "the job link", By.LINK_TEXT, "hello")
        until(d, "the scale form", lambda: d.find_elements(By.CSS_SELECTOR, "form[data-scale] input"))
        def scale_to_one():
            try:
                count = d.find_element(By.CSS_SELECTOR, "form[data-scale] input")
                count.clear()
                count.send_keys("1")
                d.find_element(By.CSS_SELECTOR, "form[data-scale] button").click()
                return True
            except StaleElementReferenceException:
                return False  # a live refresh replaced the form: type again
        until(d, "the scale form taking 1", scale_to_one)
        until(d, "the group scaled to 1", lambda: api(addr, "GET", "/v1/job/hello")["TaskGroups"][0]["Count"] == 1)
        until(d, "one running allocation on the page", lambda: text_of(d, "#job-groups td.running") == "1")
        click(d, "the stop button", By.XPATH, "//div[@id='job-actions']/button[text()='Stop']")
        d.switch_to.alert.accept()
        until(d, "the job stopped", lambda: d.find_elements(By.CSS_SELECTOR, "button[data-start-job]"))
        assert api(addr, "GET", "/v1/job/hello")["Stop"] is True
        click(d, "the start button", By.CSS_SELECTOR, "button[data-start-job]")
        until(d, "the job started again", lambda: api(addr, "GET", "/v1/job/hello")["Stop"] is False)
        until(d, "a running allocation after the start",
              lambda: text_of(d, "#job-groups td.running") == "1" and d.find_elements(By.XPATH, "//div[@id='job-actions']/button[text()='Stop']"))

        # Revert to the version the API scaled to 2 (the later ones run 1).
        versions = api(addr, "GET", "/v1/job/hello/versions")["Versions"]
        two = next(v["Version"] for v in versions if v["TaskGroups"][0]["Count"] == 2)
        click(d, f"the revert button of version {two}", By.XPATH,
              f"//summary[starts-with(normalize-space(.), 'Version {two} ')]/button[text()='Revert']")
        d.switch_to.alert.accept()
        until(d, "the job back at count 2", lambda: api(addr, "GET", "/v1/job/hello")["TaskGroups"][0]["Count"] == 2)
        until(d, "two running allocations on the page", lambda: text_of(d, "#job-groups td.running") == "2")

        # Drain the node from its page.
        d.find_element(By.LINK_TEXT, "Nodes").click()
        node_link = "#nodes-live tbody td:nth-child(2) a"
        until(d, "a node link", lambda: d.find_elements(By.CSS_SELECTOR, node_link))
        shoot(d, shots, "nodes")
        click(d, "the node link", By.CSS_SELECTOR, node_link)
        click(d, "the drain button", By.ID, "drain")
        try:
            d.switch_to.alert.accept()
        except NoAlertPresentException:
            raise AssertionError("the drain asked for no confirmation")
        until(d, "the node draining", lambda: d.find_elements(By.CSS_SELECTOR, "[data-drain=true]"))
        nodes = api(addr, "GET", "/v1/nodes")
        assert nodes[0]["Drain"] is True or nodes[0]["SchedulingEligibility"] == "ineligible", nodes
        shoot(d, shots, "node")

        # No page larger than 200 KB with its assets.
        assets = sum(len(urllib.request.urlopen(addr + p).read())
                     for p in ["/ui/", "/ui/assets/app.js", "/ui/assets/app.css"])
        for p in PAGES:
            size = assets + len(urllib.request.urlopen(addr + "/ui/f/" + p).read())
            assert size < 200_000, f"{p}: {size} bytes"
        print("walkthrough passed")
    finally:
        d.quit()


CANARY = """job "canary" {
  datacenters = ["*"]
  update {
    canary           = 1
    min_healthy_time = "1s"
    healthy_deadline = "30s"
    progress_deadline = "60s"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 3600 # VERSION"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""


def register(addr, hcl):
    job = api(addr, "POST", "/v1/jobs/parse", {"JobHCL": hcl, "Canonicalize": True})
    api(addr, "POST", "/v1/jobs", {"Job": job})


def latest_deployment(addr):
    return api(addr, "GET", "/v1/job/canary/deployment") or {}


def rollout(addr, shots):
    d = browser()
    try:
        register(addr, CANARY.replace("VERSION", "v1"))
        WebDriverWait(d, WAIT, poll_frequency=0.2).until(
            lambda _: latest_deployment(addr).get("Status") == "successful"
            or api(addr, "GET", "/v1/job/canary")["Status"] == "running")
        # A canary of version 2: promoted from the job page.
        register(addr, CANARY.replace("VERSION", "v2"))
        d.get(addr + "/ui/jobs/canary?namespace=default")
        click(d, "the promote button", By.XPATH, "//div[@id='job-deployment']//button[text()='Promote']")
        until(d, "the deployment promoted and successful",
              lambda: latest_deployment(addr).get("Status") == "successful")
        until(d, "the page showing it", lambda: "successful" in text_of(d, "#job-deployment"))
        shoot(d, shots, "deployment")
        # A canary of version 3: failed from the job page, after a confirmation.
        register(addr, CANARY.replace("VERSION", "v3"))
        click(d, "the fail button", By.XPATH, "//div[@id='job-deployment']//button[text()='Fail']")
        d.switch_to.alert.accept()
        until(d, "the deployment failed", lambda: latest_deployment(addr).get("Status") == "failed")
        until(d, "the page showing it", lambda: "failed" in text_of(d, "#job-deployment"))
        # A job no node can hold: its evaluation explains why.
        register(addr, CANARY.replace('"canary"', '"huge"').replace("memory = 16", "memory = 100000000"))
        d.get(addr + "/ui/jobs/huge?namespace=default")
        until(d, "the placement failure explained",
              lambda: "dimension memory exhausted on 1" in text_of(d, "#job-evals"))
        shoot(d, shots, "placement-failure")
        print("rollout passed")
    finally:
        d.quit()


def acl(addr, shots, token):
    d = browser()
    try:
        d.get(addr + "/ui/jobs")
        until(d, "not allowed without a token", lambda: text_of(d, "h1") == "Not allowed")
        shoot(d, shots, "denied")
        field = d.find_element(By.ID, "token")
        field.send_keys(token)
        d.find_element(By.CSS_SELECTOR, "#token-form button").click()
        until(d, "the jobs page with the token", lambda: text_of(d, "h1") == "Jobs")
        stored = d.execute_script("return localStorage.getItem('nomad.token')")
        assert stored == token, "the token is not in local storage"
        d.refresh()
        until(d, "the jobs page after a reload", lambda: text_of(d, "h1") == "Jobs")
        print("acl passed")
    finally:
        d.quit()


if __name__ == "__main__":
    mode, addr, shots = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "walkthrough":
        walkthrough(addr, shots)
    elif mode == "rollout":
        rollout(addr, shots)
    else:
        acl(addr, shots, sys.argv[4])
