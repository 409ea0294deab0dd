"""Loads the site `parcours docs` wrote in headless Chromium (Selenium, chromedriver from the
distribution) from its file:// URL and checks what a reader would: no console error, the
graph's nodes drawn, each available chart's marks drawn, a click on a node opening its model
page, and the run page's timeline. Takes screenshots. Prints one JSON object on stdout;
exits 1 when a check fails.

usage: check_site.py INDEX_HTML SHOTS_DIR
"""
import json
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def main():
    index = Path(sys.argv[1]).resolve()
    shots = Path(sys.argv[2])
    shots.mkdir(parents=True, exist_ok=True)
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1500,1000", "--hide-scrollbars"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    failures = []
    out = {}
    requests = []
    try:
        url = index.as_uri()
        driver.get(url)
        time.sleep(0.5)
        data = json.loads(driver.find_element(By.ID, "site-data").get_attribute("textContent"))
        nodes = driver.find_elements(By.CSS_SELECTOR, "#graph g.node")
        out["nodes_drawn"] = len(nodes)
        out["nodes_in_data"] = len(data["nodes"])
        if len(nodes) != len(data["nodes"]) or not nodes:
            failures.append(f"{len(nodes)} graph nodes drawn for {len(data['nodes'])} in the data")
        edges = driver.find_elements(By.CSS_SELECTOR, "#graph path.edge")
        out["edges_drawn"] = len(edges)
        if len(edges) != len(data["edges"]):
            failures.append(f"{len(edges)} edges drawn for {len(data['edges'])}")
        driver.save_screenshot(str(shots / "1-graph.png"))

        # the search box's selectors dim what does not match
        box = driver.find_element(By.ID, "search")
        box.send_keys("tag:attribution")
        time.sleep(0.2)
        dim = len(driver.find_elements(By.CSS_SELECTOR, "#graph g.node.dim"))
        out["dimmed_by_tag_search"] = dim
        if not 0 < dim < len(nodes):
            failures.append(f"tag:attribution dims {dim} of {len(nodes)} nodes")
        driver.save_screenshot(str(shots / "2-graph-search.png"))
        box.clear()

        # a click on a model node opens its page
        models = [n for n in data["nodes"] if n["kind"] == "model" and n.get("result")]
        target = models[len(models) // 2]["id"] if models else data["nodes"][0]["id"]
        node = driver.find_element(By.CSS_SELECTOR, f'#graph g.node[data-id="{target}"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", node)
        node.click()
        time.sleep(0.3)
        title = driver.find_element(By.ID, "model-title").text
        out["clicked"] = target
        out["model_page_title"] = title
        if target not in title or target not in driver.current_url:
            failures.append(f"clicking {target} opened {driver.current_url} titled {title!r}")
        if not driver.find_elements(By.CSS_SELECTOR, "pre.sql span.k"):
            failures.append("the model page shows no highlighted SQL")
        driver.save_screenshot(str(shots / "3-model.png"))

        driver.get(url + "#/run")
        time.sleep(0.3)
        bars = driver.find_elements(By.CSS_SELECTOR, "#gantt rect.bar")
        out["gantt_bars"] = len(bars)
        expected = len(data["run"]["gantt"]) if data.get("run") else 0
        if len(bars) != expected or (data.get("run") and not bars):
            failures.append(f"{len(bars)} timeline bars for {expected} in the data")
        driver.save_screenshot(str(shots / "4-run.png"))

        driver.get(url + "#/charts")
        time.sleep(0.5)
        out["charts"] = {}
        for c in data["charts"]:
            marks = driver.find_elements(By.CSS_SELECTOR, f"#chart-{c['name']} .mark")
            out["charts"][c["name"]] = len(marks) if not c["unavailable"] else "unavailable: " + c["unavailable"]
            if not c["unavailable"] and not marks:
                failures.append(f"chart {c['name']} has data but no marks")
        driver.set_window_size(1500, 3000)
        driver.save_screenshot(str(shots / "5-charts.png"))
        driver.execute_script("window.scrollTo(0, 2800)")
        driver.save_screenshot(str(shots / "6-charts-more.png"))

        logs = driver.get_log("browser")
        out["console"] = [l["message"] for l in logs]
        errors = [l for l in logs if l["level"] in ("SEVERE", "ERROR")]
        if errors:
            failures.append("console errors: " + "; ".join(l["message"] for l in errors))
        # nothing but the file itself was loaded
        requests = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
        out["requests"] = requests
        if requests:
            failures.append("the page requested " + ", ".join(requests))
    finally:
        driver.quit()
    out["failures"] = failures
    print(json.dumps(out, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
