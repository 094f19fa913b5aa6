"""The web frontend in a real browser.

Playwright drives Debian's chromium (installed by scripts/install-services.sh;
Playwright's own browser downloads are never used) against the service
started as a process on loopback with the demo models. Every test saves
screenshots of the views it visits to var/test-artifacts/screenshots/.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil

import pytest
import requests

from tests.conftest import ROOT

try:
    from playwright.sync_api import Page, expect, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError as error:
    raise ImportError(
        "the browser tests need the Python package playwright, which scripts/setup.sh installs "
        "into .venv with the test extras"
    ) from error

SCREENSHOTS = ROOT / "var" / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The checkpoint series the service registers from the demo directory on start.
DEMO_SERIES = ["demo-healthy", "demo-vanishing", "demo-exploding", "demo-dead-relu"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# Roles of the controls a user operates. Each of them must have an accessible name.
CONTROL_ROLES = ("button", "checkbox", "combobox", "listbox", "slider", "spinbutton", "switch",
                 "textbox", "tab", "radio", "link")

expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """Start one chromium with a fresh profile for the module. Each test opens its own page."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run scripts/install-services.sh, which installs "
                    "Debian's chromium package with apt-get")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
        )
        yield context
        context.close()


@pytest.fixture
def server(live_server_factory, demo_dir):
    return live_server_factory(demo_models=demo_dir)


@pytest.fixture
def page_errors():
    return []


@pytest.fixture
def page(browser_context, server, page_errors) -> Page:
    """The frontend, opened at the service root as a browser would, with adult-gbm selected."""
    def record_console_error(message):
        if message.type == "error":
            page_errors.append(message.text)

    page = browser_context.new_page()
    page.on("pageerror", lambda error: page_errors.append(f"uncaught: {error}"))
    page.on("console", record_console_error)
    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/ui/")
    expect(page.locator("#model-select option")).to_have_count(3)
    page.get_by_role("combobox", name="Model", exact=True).select_option(label="adult-gbm")
    yield page
    page.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def open_simulator(page: Page):
    page.get_by_role("tab", name="Simulator").click()
    prediction = page.locator("#sim-prediction")
    expect(prediction).to_have_attribute("data-state", "ready")
    return prediction


def ice_shows_line(page: Page) -> bool:
    """Whether the ICE chart connects its points with a line."""
    return page.evaluate("() => Chart.getChart(document.getElementById('ice-chart')).data.datasets[0].showLine")


def compact_json(value) -> str:
    """JSON as the page's JSON.stringify writes it."""
    return json.dumps(value, separators=(",", ":"))


def assert_no_horizontal_scroll(page: Page, where: str) -> None:
    """Fail when the document is wider than the viewport, after Chart.js has resized its canvases."""
    try:
        # Chart.js resizes its canvases in an animation frame after the layout changes.
        page.wait_for_function(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth", timeout=5_000)
    except PlaywrightTimeoutError:
        pass
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{where} scrolls horizontally: scroll width {widths[0]}, viewport {widths[1]}"


def unnamed_controls(snapshot: str) -> list[str]:
    """Lines of an ARIA snapshot whose control role has no accessible name."""
    pattern = re.compile(rf"^\s*- ({'|'.join(CONTROL_ROLES)})\b(?! \")")
    return [line.strip() for line in snapshot.splitlines() if pattern.match(line)]


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept, status", [
    (BROWSER_ACCEPT, 302),
    ("application/json", 200),
    ("*/*", 200),
    (None, 200),
])
def test_root_redirects_only_browsers(client, accept, status):
    response = client.get("/", headers={"Accept": accept} if accept else {})

    assert response.status_code == status
    assert "Accept" in response.headers["Vary"]
    if status == 302:
        assert response.headers["Location"] == "/ui/"
    else:
        assert response.json["frontend"] == "/ui/"


def test_frontend_serves_only_its_files(client):
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.content_type.startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("app.js", "style.css", "vendor/chart.umd.js"):
        assert client.get(f"/ui/{asset}").status_code == 200, asset
    for outside in ("../routes/frontend.py", "%2e%2e/__init__.py", "missing.js"):
        assert client.get(f"/ui/{outside}").status_code == 404, outside


def test_slider_prediction_equals_api(page, server, page_errors):
    prediction = open_simulator(page)
    expect(page.locator("#dataset-select option:checked")).to_have_text("adult")
    age = page.get_by_role("slider", name="age", exact=True)
    original_age = int(age.input_value())

    age.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    changes = {"age": original_age + 5}
    expect(page.get_by_role("spinbutton", name="age, exact value")).to_have_value(str(original_age + 5))
    expect(prediction).to_have_attribute("data-changes", compact_json(changes))
    expect(prediction).to_have_attribute("data-state", "ready")
    expect(page.locator('.control[data-feature="age"] .original')).to_have_text(f"was {original_age}")

    answer = requests.post(f"{server.url}/what-if", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 0, "changes": changes, "explain": False,
    }, timeout=60).json()
    displayed = json.loads(prediction.get_attribute("data-prediction"))
    assert displayed == answer["prediction_after"]
    for name, probability in zip(answer["class_names"], answer["prediction_after"]):
        expect(prediction.locator(f'[data-probability-for="{name}"]')).to_have_text(f"{probability:.3f}")
    predicted = max(range(2), key=lambda index: answer["prediction_after"][index])
    expect(page.locator("#sim-prediction-text")).to_contain_text(
        f"Predicted class {answer['class_names'][predicted]}, probability {answer['prediction_after'][predicted]:.3f}")

    direct = requests.post(f"{server.url}/models/adult-gbm/predict",
                           json={"rows": [answer["changed_row"]]}, timeout=60).json()
    assert displayed == pytest.approx(direct["predictions"][0], rel=1e-12)

    ice = page.locator("#ice-chart")
    expect(ice).to_have_attribute("data-feature", "age")
    expect(ice).to_have_attribute("data-marker", str(original_age + 5))
    curve, marker = page.evaluate("canvas => Chart.getChart(canvas).data.datasets.map((d) => d.data)",
                                  ice.element_handle())
    assert len(curve) >= 2
    assert marker == [{"x": original_age + 5, "y": answer["prediction_after"][1]}]
    assert ice_shows_line(page), "a numeric feature's ICE curve is a line"
    screenshot(page, "simulator")

    page.get_by_role("combobox", name="ICE curve of").select_option("workclass")
    expect(ice).to_have_attribute("data-feature", "workclass")
    sweep = requests.post(f"{server.url}/what-if/sweep", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row": answer["changed_row"], "feature": "workclass",
        "n_points": 40,
    }, timeout=60).json()
    assert not ice_shows_line(page), "categories have no order, so no line connects them"
    points = page.evaluate("canvas => Chart.getChart(canvas).data", ice.element_handle())
    assert points["labels"] == sweep["grid"]
    assert points["datasets"][0]["data"] == [prediction[1] for prediction in sweep["predictions"][0]]
    assert page_errors == []


def test_counterfactual_apply_reaches_target(page, server, page_errors):
    prediction = open_simulator(page)
    original_class = prediction.get_attribute("data-predicted-class")
    target = page.get_by_label("Target class").input_value()
    assert target != original_class, "the default target is the class not predicted now"

    page.get_by_role("button", name="Find counterfactuals").press("Enter")
    expect(page.locator("#cf-list > li").first).to_be_visible(timeout=60_000)
    reaching = page.locator('#cf-list > li[data-reaches-target="true"]').first
    expect(reaching).to_be_visible()
    screenshot(page, "counterfactuals")

    reaching.get_by_role("button", name=re.compile(r"^Apply")).press("Enter")
    expect(prediction).to_have_attribute("data-predicted-class", target)
    expect(prediction).to_have_attribute("data-state", "ready")

    original_row = requests.post(f"{server.url}/what-if", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 0, "explain": False,
    }, timeout=60).json()["original_row"]
    found = requests.post(f"{server.url}/what-if/counterfactuals", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row": original_row, "target_class": target,
        "n_counterfactuals": 3, "random_state": 0,
    }, timeout=120).json()
    first_reaching = next(item for item in found["counterfactuals"] if item["reaches_target"])
    applied = json.loads(prediction.get_attribute("data-changes"))
    assert applied == first_reaching["changes"]
    for feature, value in first_reaching["changes"].items():
        control = page.locator(f'.control[data-feature="{feature}"]')
        expect(control).to_have_class(re.compile(r"\bchanged\b"))
        control_value = control.get_by_label(feature, exact=True).input_value()
        assert (float(control_value) if isinstance(value, (int, float)) else control_value) == value, feature
    screenshot(page, "counterfactual-applied")
    assert page_errors == []


def shown_decimals(text: str) -> int:
    return len(text.partition(".")[2])


def test_failed_request_marks_prediction_stale(page, server, page_errors):
    page.get_by_role("combobox", name="Model", exact=True).select_option(label="breast-cancer-mlp")
    prediction = open_simulator(page)
    error = page.locator("#sim-error")
    shown = prediction.get_attribute("data-prediction")

    # The PyTorch model cannot take a missing value.
    page.get_by_role("checkbox", name="missing (mean radius)").check()
    problem = requests.post(f"{server.url}/what-if", json={
        "model_id": "breast-cancer-mlp", "dataset_id": "breast_cancer", "row_index": 0,
        "changes": {"mean radius": None},
    }, timeout=60).json()
    expect(prediction).to_have_attribute("data-state", "error")
    expect(error).to_have_text(f"Predicting the changed row failed: {problem['detail']}")
    assert prediction.get_attribute("data-prediction") == shown, "the earlier prediction stays, greyed"
    assert float(prediction.evaluate("node => getComputedStyle(node).opacity")) < 1
    screenshot(page, "simulator-stale")

    page.get_by_role("checkbox", name="missing (mean radius)").uncheck()
    expect(prediction).to_have_attribute("data-state", "ready")
    expect(error).to_be_hidden()
    assert float(prediction.evaluate("node => getComputedStyle(node).opacity")) == 1

    page.get_by_label("Row index").fill("5000")
    message = "Row index must be an integer from 0 to 568, got 5000."
    expect(prediction).to_have_attribute("data-state", "error")
    expect(error).to_have_text(message)
    page.get_by_role("tab", name="Explain a prediction").click()
    expect(page.locator("#row-prediction")).to_have_attribute("data-state", "error")
    expect(page.locator("#row-error")).to_have_text(message)

    page.get_by_label("Row index").fill("1")
    expect(page.locator("#row-prediction")).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(page.locator("#row-error")).to_be_hidden()
    open_simulator(page)
    expect(error).to_be_hidden()
    assert [error for error in page_errors if "status of 422" not in error] == []


def column_decimals(server, dataset_id: str) -> dict:
    """Map each numeric column to the decimals of its minimum and maximum (at least 1), or None for integers."""
    schema = requests.get(f"{server.url}/datasets/{dataset_id}/schema", timeout=30).json()
    decimals = {}
    for column in schema["columns"]:
        if column["kind"] != "numeric":
            continue
        extremes = (shown_decimals(repr(column["min"])), shown_decimals(repr(column["max"])))
        decimals[column["name"]] = None if column["is_integer"] else max(1, *extremes)
    return decimals


def check_shown_changes(option, counterfactual: dict, row: dict, decimals: dict) -> None:
    """Check an option's "feature: old → new" lines against the service's counterfactual of `row`."""
    lines = option.locator(".changes li").all_inner_texts()
    assert [line.partition(":")[0] for line in lines] == list(counterfactual["changes"])
    for line, (feature, value) in zip(lines, counterfactual["changes"].items()):
        before, after = line.partition(": ")[2].split(" \u2192 ")
        if feature not in decimals:
            assert (before, after) == (str(row[feature]), str(value)), line
            continue
        if decimals[feature] is None:
            assert after == f"{round(value):,}", line
            continue
        places = max(shown_decimals(before), shown_decimals(after))
        # More decimals than the column's only where fewer would show old and new alike.
        assert places <= decimals[feature] or round(row[feature], places - 1) == round(value, places - 1), line
        assert float(after.replace(",", "")) == pytest.approx(value, abs=10 ** -shown_decimals(after) / 2), line


def find_counterfactuals(page: Page) -> tuple[dict, dict]:
    """Click "Find counterfactuals"; return the service's response that the page received, and the row it sent."""
    with page.expect_response(lambda response: response.url.endswith("/what-if/counterfactuals"),
                              timeout=60_000) as response:
        page.get_by_role("button", name="Find counterfactuals").click()
    assert response.value.ok, response.value.text()
    return response.value.json(), response.value.request.post_data_json["row"]


def original_row(server, model_id: str, dataset_id: str) -> dict:
    """Row 0 of a dataset, as the simulator sends it to the counterfactual search before any change."""
    return requests.post(f"{server.url}/what-if", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_index": 0, "explain": False,
    }, timeout=60).json()["original_row"]


def test_counterfactual_values_rounded(page, server, page_errors):
    """Values show the column's precision, and probabilities near 0.5 enough digits to tell the classes apart."""
    page.get_by_role("combobox", name="Model", exact=True).select_option(label="breast-cancer-mlp")
    prediction = open_simulator(page)
    expect(page.get_by_label("Target class")).to_have_value("benign")
    found, row = find_counterfactuals(page)
    options = page.locator("#cf-list > li")
    expect(options.first).to_be_visible()

    assert row == original_row(server, "breast-cancer-mlp", "breast_cancer")
    decimals = column_decimals(server, "breast_cancer")
    expect(options).to_have_count(len(found["counterfactuals"]))
    collapsed = 0
    for option, counterfactual in zip(options.all(), found["counterfactuals"]):
        benign = counterfactual["prediction"][1]
        probability = re.search(r"prediction benign \(([0-9.]+)\)", option.locator("p").first.inner_text()).group(1)
        assert float(probability) == pytest.approx(benign, abs=10 ** -shown_decimals(probability) / 2)
        if counterfactual["reaches_target"]:
            assert float(probability) > 0.5, f"{probability} reads as a tie, but benign is predicted"
        if len(counterfactual["changes"]) > 5:
            collapsed += 1
            expect(option.locator("details")).not_to_have_attribute("open", "")
            expect(option.locator("details summary")).to_have_text(
                f"This option changes many features ({len(counterfactual['changes'])}): show them")
            option.locator("details summary").click()
        else:
            expect(option.locator("details")).to_have_count(0)
        check_shown_changes(option, counterfactual, row, decimals)
    assert collapsed > 0, "the search on this row finds options with many changes"
    screenshot(page, "counterfactuals-many-changes")

    # Apply sets the exact values, so the prediction reaches the target.
    first = found["counterfactuals"][0]
    options.first.get_by_role("button", name="Apply option 1").click()
    expect(prediction).to_have_attribute("data-changes", compact_json(first["changes"]))
    expect(prediction).to_have_attribute("data-predicted-class", "benign")
    benign = json.loads(prediction.get_attribute("data-prediction"))[1]
    headline = page.locator("#sim-prediction-text").inner_text()
    probability = re.search(r"probability ([0-9.]+) ", headline).group(1)
    assert float(probability) > 0.5, headline
    assert float(probability) == pytest.approx(benign, abs=10 ** -shown_decimals(probability) / 2)

    # A regressor's default target is 10 % above the prediction, rounded up to 3 significant digits.
    page.get_by_role("combobox", name="Model", exact=True).select_option(label="california-gbm")
    prediction = open_simulator(page)
    current = json.loads(prediction.get_attribute("data-prediction"))[0]
    scale = 10 ** (math.floor(math.log10(current * 1.1)) - 2)
    low = math.ceil(current * 1.1 / scale) * scale
    expect(page.get_by_label("Target at least")).to_have_value(str(low))
    expect(page.get_by_label("Target at most")).to_have_value("")
    found, row = find_counterfactuals(page)
    expect(options.first).to_be_visible()

    assert found["parameters"]["target_range"] == [low, None]
    decimals = column_decimals(server, "california_housing")
    expect(options).to_have_count(len(found["counterfactuals"]))
    for option, counterfactual in zip(options.all(), found["counterfactuals"]):
        check_shown_changes(option, counterfactual, row, decimals)
    assert page_errors == []


def test_global_charts_render_with_progress(page, server, page_errors):
    page.evaluate("""() => {
        window.jobStates = [];
        for (const form of document.querySelectorAll(".job-form")) {
            new MutationObserver(() => window.jobStates.push({
                form: form.id,
                status: form.dataset.status,
                progressVisible: !form.querySelector("[data-progress]").hidden,
            })).observe(form, { attributes: true, attributeFilter: ["data-status"] });
        }
    }""")
    page.get_by_label("Repeats").fill("2")
    page.get_by_label("Rows scored").fill("500")
    page.get_by_role("button", name="Run permutation importance").click()
    page.get_by_label("Rows explained").fill("40")
    page.get_by_label("Background rows").fill("50")
    page.get_by_role("button", name="Run SHAP").click()

    for figure in ("#permutation-figure", "#shap-importance-figure", "#shap-summary-figure"):
        expect(page.locator(figure)).to_be_visible(timeout=60_000)
    expect(page.locator("#permutation-form [data-summary]")).to_contain_text("repeats")
    expect(page.locator("#shap-form [data-summary]")).to_contain_text("tree explainer on 40 rows")

    states = page.evaluate("window.jobStates")
    for form in ("permutation-form", "shap-form"):
        seen = [state for state in states if state["form"] == form]
        assert any(state["status"] in ("queued", "running") and state["progressVisible"] for state in seen), seen
        assert seen[-1]["status"] == "succeeded", seen
    expect(page.locator("[data-progress]:visible")).to_have_count(0)

    chart_data = page.evaluate("""ids => ids.map((id) => {
        const chart = Chart.getChart(document.getElementById(id));
        return chart.data.datasets[0].data;
    })""", ["permutation-chart", "shap-importance-chart", "shap-summary-chart"])
    jobs = requests.get(f"{server.url}/explanations", timeout=30).json()["jobs"]
    results = {job["method"]: requests.get(f"{server.url}/explanations/{job['id']}", timeout=30).json()["result"]
               for job in jobs}
    assert chart_data[0] == sorted(results["permutation"]["importances_mean"], reverse=True)
    positive_class = [row[1] for row in results["shap"]["mean_abs"]]
    assert chart_data[1] == sorted(positive_class, reverse=True)
    assert len(chart_data[2]) == 14 * 40, "one point per explained row and feature"
    screenshot(page, "global")
    assert page_errors == []


def test_row_view_ranks_shap_values(page, server, page_errors):
    page.get_by_role("tab", name="Explain a prediction").click()
    container = page.locator("#row-prediction")
    expect(container).to_have_attribute("data-state", "ready")

    answer = requests.post(f"{server.url}/what-if", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 0, "explain": True,
    }, timeout=60).json()
    probabilities = answer["prediction_after"]
    predicted = max(range(2), key=lambda index: probabilities[index])
    values = {name: row[predicted] for name, row in zip(answer["feature_names"], answer["explanation"]["values"][0])}
    supporting = sorted((name for name in values if values[name] > 0), key=values.get, reverse=True)
    contradicting = sorted((name for name in values if values[name] < 0), key=values.get)
    expect(page.locator("#row-prediction-text")).to_have_text(
        f"Row 0: Predicted class {answer['class_names'][predicted]}, probability {probabilities[predicted]:.3f}.")
    expect(page.locator("#row-supports tbody tr td:first-child")).to_have_text(supporting)
    expect(page.locator("#row-contradicts tbody tr td:first-child")).to_have_text(contradicting)
    for name in supporting + contradicting:
        value = answer["original_row"][name]
        row = page.locator("#panel-row tbody tr").filter(has=page.locator("td:first-child", has_text=name))
        expect(row.locator("td").nth(1)).to_have_text(value if isinstance(value, str) else f"{value:,}")
    screenshot(page, "explain-prediction")

    page.get_by_label("Row index").fill("99999")
    expect(page.locator("#setup-error")).to_have_text(
        "Row index must be an integer from 0 to 32560, got 99999.")

    page.get_by_label("Row index").fill("0")
    page.get_by_role("combobox", name="Dataset", exact=True).select_option(label="california_housing")
    problem = requests.post(f"{server.url}/what-if", json={
        "model_id": "adult-gbm", "dataset_id": "california_housing", "row_index": 0, "explain": True,
    }, timeout=60).json()
    expect(page.locator("#row-error")).to_have_text(f"Explaining row 0 failed: {problem['detail']}")
    # Chromium logs every response with an error status to the console.
    assert [error for error in page_errors if "status of 422" not in error] == []


def test_upload_dataset_and_bad_model(page, server, adult_frame, page_errors):
    page.get_by_text("Upload a model or a dataset").click()
    sample = adult_frame.head(200).to_csv(index=False).encode()
    page.get_by_label("Dataset file").set_input_files(
        files=[{"name": "adult-sample.csv", "mimeType": "text/csv", "buffer": sample}])
    page.get_by_label("Dataset name").fill("adult-sample")
    page.get_by_label("Target column").fill("income")
    page.get_by_role("button", name="Upload dataset").click()
    expect(page.locator("#upload-status")).to_have_text(
        "Dataset adult-sample uploaded: 200 rows, 15 columns, target income.")
    expect(page.locator("#dataset-select option:checked")).to_have_text("adult-sample")
    expect(page.locator("#model-select option:checked")).to_have_text("adult-gbm")
    open_simulator(page)
    expect(page.locator("#sim-prediction-text")).to_contain_text("Predicted class")

    page.get_by_role("tab", name="Global importance").click()
    not_a_model = b"age,income\n39,<=50K\n"
    page.get_by_label("Model file").set_input_files(
        files=[{"name": "model.csv", "mimeType": "text/csv", "buffer": not_a_model}])
    page.get_by_role("button", name="Upload model").click()
    problem = requests.post(f"{server.url}/models", files={"file": ("model.csv", not_a_model)}, timeout=30).json()
    expect(page.locator("#upload-error")).to_have_text(f"Upload failed: {problem['detail']}")
    expect(page.locator("#model-select option")).to_have_count(3)
    screenshot(page, "upload")
    assert [error for error in page_errors if f"status of {problem['status']}" not in error] == []


def test_controls_named_and_fit_phone(page, page_errors):
    open_simulator(page)
    unnamed = page.evaluate("""() => [...document.querySelectorAll("input, select, button")]
        .filter((control) => !control.labels?.length && !control.getAttribute("aria-label")
                             && !control.getAttribute("aria-labelledby")
                             && !(control.tagName === "BUTTON" && control.textContent.trim()))
        .map((control) => control.outerHTML)""")
    assert unnamed == []

    tabs = {"Global importance": "global", "Explain a prediction": "explain-prediction", "Simulator": "simulator",
            "Training health": "training-health-start"}
    for viewport, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        page.set_viewport_size(viewport)
        for tab, name in tabs.items():
            page.get_by_role("tab", name=tab).click()
            if name == "explain-prediction":
                expect(page.locator("#row-prediction")).to_have_attribute("data-state", "ready")
            assert unnamed_controls(page.locator("body").aria_snapshot()) == [], tab
            assert_no_horizontal_scroll(page, f"{tab} at {viewport['width']} px")
            if suffix:
                screenshot(page, f"{name}{suffix}")

    # The tables and charts of every demo model fit a phone.
    model_select = page.get_by_role("combobox", name="Model", exact=True)
    for model in ("adult-gbm", "california-gbm", "breast-cancer-mlp"):
        model_select.select_option(label=model)
        page.get_by_role("tab", name="Explain a prediction").click()
        expect(page.locator("#row-prediction")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator("#row-supports table")).to_be_visible()
        assert_no_horizontal_scroll(page, f"{model}'s explained prediction at {PHONE['width']} px")
        screenshot(page, f"explain-prediction-{model}-phone")
        open_simulator(page)
        expect(page.locator("#sim-prediction-detail table")).to_be_visible()
        assert_no_horizontal_scroll(page, f"{model}'s simulator at {PHONE['width']} px")
    model_select.select_option(label="adult-gbm")
    page.set_viewport_size(DESKTOP)
    # The simulator rebuilds its controls once the new model's schema arrives;
    # keyboard steps before that would lose focus to the rebuild.
    expect(page.get_by_role("slider", name="age", exact=True)).to_be_attached(timeout=60_000)
    expect(page.locator("#sim-prediction")).to_have_attribute("data-state", "ready", timeout=60_000)

    page.get_by_role("tab", name="Global importance").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Explain a prediction")).to_be_focused()
    expect(page.get_by_role("tab", name="Explain a prediction")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-row")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Training health")).to_be_focused()
    expect(page.locator("#panel-training")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="Simulator")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused tab shows a focus outline"

    page.keyboard.press("Tab")
    expect(page.locator("#panel-simulator")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Reset")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("slider", name="age", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("spinbutton", name="age, exact value")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox", name="missing (age)")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#sim-prediction")).to_have_attribute("data-changes", compact_json({"age": None}))
    assert page_errors == []


def upload_checkpoint_series(server, folder, network: dict) -> dict:
    """Upload a network of datasets/train_checkpoints.py with POST /checkpoints; return the series."""
    files = [("architecture", (network["architecture"], (folder / network["architecture"]).read_bytes()))]
    files += [("weights", (name, (folder / name).read_bytes())) for name in network["weights"]]
    data = {"name": network["name"], "epochs": json.dumps(network["epochs"])}
    response = requests.post(f"{server.url}/checkpoints", files=files, data=data, timeout=120)
    assert response.status_code == 201, response.text
    return response.json()


def latest_diagnosis(server, series_id: str) -> dict:
    """The newest training-health job of a series, with its result."""
    jobs = requests.get(f"{server.url}/checkpoints/{series_id}/diagnoses", timeout=30).json()["jobs"]
    return requests.get(f"{server.url}/explanations/{jobs[0]['id']}", timeout=30).json()


def chart_data(page: Page, canvas_id: str) -> dict:
    """The labels, each dataset's label and data, and the value axis type of the chart on a canvas."""
    return page.evaluate("""id => {
        const chart = Chart.getChart(document.getElementById(id));
        const valueAxis = chart.options.indexAxis === "y" ? "x" : "y";
        return {
            labels: chart.data.labels ?? null,
            datasets: chart.data.datasets.map((dataset) => ({ label: dataset.label, data: dataset.data })),
            scale: chart.scales[valueAxis].type,
        };
    }""", canvas_id)


def run_diagnosis(page: Page) -> None:
    """Run the diagnosis from the page, recording the job states the form goes through in window.jobStates."""
    page.evaluate("""() => {
        window.jobStates = [];
        const form = document.getElementById("training-form");
        new MutationObserver(() => window.jobStates.push({
            status: form.dataset.status,
            progressVisible: !form.querySelector("[data-progress]").hidden,
        })).observe(form, { attributes: true, attributeFilter: ["data-status"] });
    }""")
    page.get_by_role("button", name="Run the diagnosis").click()
    expect(page.locator("#training-form")).to_have_attribute("data-status", "succeeded", timeout=120_000)
    expect(page.locator("#training-results")).to_be_visible()


def test_training_health_shows_vanishing_gradients(page, server, checkpoints_dir, checkpoint_networks, page_errors):
    network = checkpoint_networks["vanishing"]
    folder = checkpoints_dir / "vanishing"
    page.get_by_role("tab", name="Training health").click()
    # The service registered the demo series on start.
    expect(page.locator("#checkpoints-select option")).to_have_text(DEMO_SERIES)
    expect(page.locator("#checkpoints-select option:checked")).to_have_text("demo-healthy")
    expect(page.locator("#training-dataset option:checked")).to_have_text("breast_cancer")
    expect(page.get_by_role("button", name="Run the diagnosis")).to_be_enabled()

    page.get_by_label("Architecture").set_input_files(folder / network["architecture"])
    # Chosen last epoch first: the page sends the files in the order of their names.
    page.get_by_label("Weights, one safetensors file per checkpoint").set_input_files(
        [folder / name for name in reversed(network["weights"])])
    page.get_by_label("Epoch labels").fill(", ".join(network["epochs"]))
    page.get_by_label("Series name").fill("vanishing")
    expect(page.locator("#checkpoints-order li")).to_have_text(
        [f"epoch {epoch}: {name}" for epoch, name in zip(network["epochs"], network["weights"])])
    page.get_by_role("button", name="Upload checkpoints").click()
    expect(page.locator("#checkpoints-upload-status")).to_contain_text("Checkpoint series vanishing uploaded")

    series = requests.get(f"{server.url}/checkpoints/vanishing", timeout=30).json()
    assert series["epochs"] == network["epochs"]
    digests = [f"sha256:{hashlib.sha256((folder / name).read_bytes()).hexdigest()}" for name in network["weights"]]
    assert [checkpoint["digest"] for checkpoint in series["checkpoints"]] == digests
    expect(page.locator("#checkpoints-select option:checked")).to_have_text("vanishing")
    expect(page.locator("#training-dataset option:checked")).to_have_text("breast_cancer")

    run_diagnosis(page)
    states = page.evaluate("window.jobStates")
    assert any(state["status"] in ("queued", "running") and state["progressVisible"] for state in states), states
    expect(page.locator("#training-form [data-progress]")).to_be_hidden()
    job = latest_diagnosis(server, series["id"])
    result = job["result"]
    breast_cancer = requests.get(f"{server.url}/datasets/breast_cancer", timeout=30).json()
    assert job["dataset_id"] == breast_cancer["id"]
    assert result["n_rows"] == breast_cancer["n_rows"]

    vanishing = [finding for finding in result["findings"] if finding["problem"] == "vanishing-gradients"]
    assert "layer1.weight" in [finding["layer"] for finding in vanishing]
    group = page.locator('.finding-group[data-problem="vanishing-gradients"]')
    expect(group.locator("h3")).to_have_text(f"Vanishing gradients: {len(vanishing)} layers")
    shown_layers = group.locator(".finding").evaluate_all("items => items.map((item) => item.dataset.layer)")
    assert shown_layers == [finding["layer"] for finding in vanishing]
    first_layer = next(finding for finding in vanishing if finding["layer"] == "layer1.weight")
    item = group.locator('.finding[data-layer="layer1.weight"]')
    expect(item).to_contain_text(f"layer1.weight, worst at checkpoint {first_layer['checkpoint']}")
    expect(item).to_contain_text("flagged below 0.001")
    expect(group.locator(".remedies li")).to_have_count(len(first_layer["remedies"]))
    expect(page.locator("#training-all-clear")).to_have_count(0)

    # The histogram starts at the first flagged tensor. Its lines are the counts at each checkpoint.
    tensor_select = page.get_by_label("Tensor of the weight histogram")
    expect(tensor_select).to_have_value("layer1.weight")
    for tensor in ("layer1.weight", "output.weight"):
        tensor_select.select_option(tensor)
        expect(page.locator("#histogram-chart")).to_have_attribute("data-tensor", tensor)
        weights = result["weights"][tensor]
        histogram = chart_data(page, "histogram-chart")
        assert [dataset["label"] for dataset in histogram["datasets"]] == [f"epoch {e}" for e in result["epochs"]]
        assert [[point["count"] for point in dataset["data"]] for dataset in histogram["datasets"]] \
            == weights["histogram_counts"], tensor
        edges = weights["histogram_edges"]
        centers = [(low + high) / 2 for low, high in zip(edges, edges[1:])]
        assert [point["x"] for point in histogram["datasets"][0]["data"]] == pytest.approx(centers)
        table_counts = page.locator("#histogram-figure tbody tr td:last-child").all_text_contents()
        assert table_counts == [", ".join(map(str, counts)) for counts in weights["histogram_counts"]]

    gradients = chart_data(page, "gradient-chart")
    assert gradients["labels"] == list(result["gradients"])
    assert gradients["datasets"][0]["data"] == [entry["norm"][-1] for entry in result["gradients"].values()]
    assert gradients["scale"] == "logarithmic", "the gradient norms span orders of magnitude"
    expect(page.locator("#training-checkpoint-label")).to_have_text(f"epoch {result['epochs'][-1]}")

    page.get_by_label("Checkpoint of the per-layer bars").focus()
    page.keyboard.press("Home")
    expect(page.locator("#training-checkpoint-label")).to_have_text(f"epoch {result['epochs'][0]}")
    gradients = chart_data(page, "gradient-chart")
    assert gradients["datasets"][0]["data"] == [entry["norm"][0] for entry in result["gradients"].values()]

    saturating = [name for name, entry in result["activations"].items()
                  if any(value is not None for value in entry["saturated_fraction"])]
    activations = chart_data(page, "activation-chart")
    assert activations["labels"] == saturating
    assert activations["datasets"][0]["label"] == "Saturated activations"
    assert activations["datasets"][0]["data"] == [result["activations"][name]["saturated_fraction"][0]
                                                  for name in saturating]

    weight_tensors = [name for name, entry in result["weights"].items() if entry["kind"] == "weight"]
    norms = chart_data(page, "weight-norm-chart")
    assert norms["labels"] == result["epochs"]
    assert {dataset["label"]: dataset["data"] for dataset in norms["datasets"]} \
        == {name: result["weights"][name]["l2_norm"] for name in weight_tensors}
    ratios = chart_data(page, "update-ratio-chart")
    assert ratios["labels"] == result["epochs"][1:]
    assert {dataset["label"]: dataset["data"] for dataset in ratios["datasets"]} \
        == {name: result["weights"][name]["update_ratio"][1:] for name in weight_tensors}
    screenshot(page, "training-health")

    assert unnamed_controls(page.locator("body").aria_snapshot()) == []
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert_no_horizontal_scroll(page, f"training health at {viewport['width']} px")
    screenshot(page, "training-health-phone")
    assert page_errors == []


RED = "#c0392b"


def chart_colors(page: Page, canvas_id: str, property_name: str) -> list:
    """One colour option (such as backgroundColor) of each dataset of the chart on a canvas."""
    return page.evaluate("""([id, property]) => Chart.getChart(document.getElementById(id))
        .data.datasets.map((dataset) => dataset[property])""", [canvas_id, property_name])


def diagnose_demo_series(page: Page, server, name: str, dataset: str) -> dict:
    """Run the diagnosis of a demo series from the page, checking the dataset it picks; return the job's result."""
    page.get_by_role("tab", name="Training health").click()
    page.get_by_label("Checkpoint series", exact=True).select_option(label=name)
    expect(page.locator("#training-dataset option:checked")).to_have_text(dataset)
    run_diagnosis(page)
    series = requests.get(f"{server.url}/checkpoints", timeout=30).json()["checkpoints"]
    series_id = next(entry["id"] for entry in series if entry["name"] == name)
    return latest_diagnosis(server, series_id)["result"]


def test_training_health_dead_relu_marks_layers(page, server, page_errors):
    result = diagnose_demo_series(page, server, "demo-dead-relu", "breast_cancer")
    epochs = result["epochs"]
    dead = [finding for finding in result["findings"] if finding["problem"] == "dead-relu-units"]
    assert [finding["layer"] for finding in dead] == ["relu1"]

    # relu1 has no weights: the histogram starts at the bias of layer1, which feeds it.
    expect(page.get_by_label("Tensor of the weight histogram")).to_have_value("layer1.bias")
    expect(page.locator("#histogram-caption")).to_contain_text("layer1 feeds relu1, flagged for dead ReLU units")

    # At every checkpoint relu1 is red and relu2, under the threshold, keeps the colour of dead units.
    units = chart_data(page, "activation-chart")
    assert units["labels"] == ["relu1", "relu2"]
    assert units["datasets"][0]["label"] == "Dead units"
    assert units["datasets"][0]["data"] == [result["activations"][name]["dead_fraction"][-1] for name in units["labels"]]
    assert result["activations"]["relu2"]["dead_fraction"][-1] < result["thresholds"]["dead_unit_fraction"]
    assert chart_colors(page, "activation-chart", "backgroundColor") == [[RED, "#1f6fb2"]]
    expect(page.locator("#activation-caption")).to_contain_text("dead units above 50 % (dashed line)")
    threshold_plugins = page.evaluate("""() => Chart.getChart(document.getElementById("activation-chart"))
        .config.plugins.map((plugin) => plugin.id)""")
    assert threshold_plugins == ["thresholdLines"]
    legend = page.evaluate("""() => Chart.getChart(document.getElementById("activation-chart"))
        .legend.legendItems.map((item) => [item.text, item.fillStyle])""")
    assert legend == [["Dead units", "#1f6fb2"], ["Flagged at this checkpoint", RED]]
    expect(page.locator("#activation-figure tbody tr td:last-child")).to_have_text(["yes", "no"])

    # The loss per checkpoint has its own chart and numbers.
    expect(page.locator("#loss-figure")).to_be_visible()
    loss = chart_data(page, "loss-chart")
    assert loss["labels"] == epochs
    assert loss["datasets"][0]["data"] == result["loss"]
    expect(page.locator("#loss-figure tbody tr")).to_have_count(len(epochs))
    screenshot(page, "training-health-dead-relu")
    page.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(page, "training health of demo-dead-relu at 390 px")
    screenshot(page, "training-health-dead-relu-phone")

    # A finding kind that the page does not know, and a loss finding, from the same job as the service
    # would send them.
    def add_findings(route):
        response = route.fetch()
        job = response.json()
        if job.get("status") == "succeeded":
            job["result"]["findings"] += [
                {"problem": "oscillating-loss", "layer": None, "checkpoint": epochs[3], "checkpoints": epochs[2:4],
                 "measured": 0.4, "threshold": 0.2, "message": "the loss oscillates between checkpoints",
                 "remedies": ["lower the learning rate"]},
                {"problem": "rising-loss", "layer": None, "checkpoint": epochs[-1], "checkpoints": epochs[-2:],
                 "measured": 2.0, "threshold": 1.5, "message": "the loss rises", "remedies": []},
            ]
        route.fulfill(response=response, json=job)

    page.route(re.compile(r".*/explanations/[0-9a-f]+$"), add_findings)
    run_diagnosis(page)
    unknown = page.locator('.finding-group[data-problem="oscillating-loss"]')
    expect(unknown.locator("h3")).to_have_text("Oscillating loss")
    expect(unknown.locator(".finding")).to_contain_text(
        f"Whole network, worst at checkpoint {epochs[3]}: The loss oscillates between checkpoints.")
    expect(unknown.locator(".remedies li")).to_have_text(["Lower the learning rate."])
    expect(page.locator('.finding-group[data-problem="rising-loss"] h3')).to_have_text("Rising loss")
    # Only the checkpoints of the rising-loss finding are red on the loss line.
    point_colors = chart_colors(page, "loss-chart", "pointBackgroundColor")[0]
    assert [color == RED for color in point_colors] == [epoch in epochs[-2:] for epoch in epochs]
    page.unroute(re.compile(r".*/explanations/[0-9a-f]+$"))
    assert page_errors == []


def test_training_health_exploding_histogram(page, server, page_errors):
    # Its synthetic dataset is not registered: only the weights are described.
    result = diagnose_demo_series(page, server, "demo-exploding", "none: describe the weights only")
    epochs = result["epochs"]
    weights = result["weights"]["layer1.weight"]
    assert result["findings"][0]["layer"] == "layer1.weight"
    expect(page.get_by_label("Tensor of the weight histogram")).to_have_value("layer1.weight")

    # The late checkpoints set the shared range: the count axis starts logarithmic, under a note on the range.
    expect(page.get_by_label("Logarithmic count axis")).to_be_checked()
    expect(page.locator("#histogram-range-note")).to_contain_text(f"because of epoch {epochs[-1]}.")
    histogram = chart_data(page, "histogram-chart")
    assert histogram["scale"] == "logarithmic"
    assert [[point["count"] for point in dataset["data"]] for dataset in histogram["datasets"]] \
        == weights["histogram_counts"]
    headers = page.locator("#histogram-figure thead th").all_text_contents()
    assert headers[:5] == ["Epoch", "Minimum", "Maximum", "Mean", "Standard deviation"]
    first_row = page.locator("#histogram-figure tbody tr").first.locator("td").all_text_contents()
    assert float(first_row[1]) == pytest.approx(weights["min"][0], rel=1e-3)
    assert float(first_row[2]) == pytest.approx(weights["max"][0], rel=1e-3)
    assert float(first_row[4]) == pytest.approx(weights["std"][0], rel=1e-3)

    # Only the slider's checkpoint, then the first and the slider's.
    page.get_by_label("Checkpoints in the histogram").select_option(label="slider's checkpoint only")
    page.get_by_label("Checkpoint of the per-layer bars").focus()
    page.keyboard.press("Home")
    histogram = chart_data(page, "histogram-chart")
    assert [dataset["label"] for dataset in histogram["datasets"]] == [f"epoch {epochs[0]}"]
    assert [point["count"] for point in histogram["datasets"][0]["data"]] == weights["histogram_counts"][0]
    page.keyboard.press("End")
    page.get_by_label("Checkpoints in the histogram").select_option(label="first and slider's checkpoint")
    page.get_by_label("Logarithmic count axis").uncheck()
    histogram = chart_data(page, "histogram-chart")
    assert [dataset["label"] for dataset in histogram["datasets"]] == [f"epoch {epochs[0]}", f"epoch {epochs[-1]}"]
    assert histogram["scale"] == "linear"
    assert [point["y"] for point in histogram["datasets"][1]["data"]] == weights["histogram_counts"][-1]

    # The exploding weights are red on the L2 norm lines at the checkpoints of their finding.
    norm_tensors = [dataset["label"] for dataset in chart_data(page, "weight-norm-chart")["datasets"]]
    flagged_at = {finding["layer"]: finding["checkpoints"] for finding in result["findings"]
                  if finding["problem"] == "exploding-weights"}
    for tensor, colors in zip(norm_tensors, chart_colors(page, "weight-norm-chart", "pointBackgroundColor")):
        assert [color == RED for color in colors] == [epoch in flagged_at.get(tensor, []) for epoch in epochs], tensor
    expect(page.locator("#loss-figure")).to_be_hidden()
    screenshot(page, "training-health-exploding")

    # On a phone the value axis shows few, compact ticks ("150K", not "150,000").
    page.get_by_label("Checkpoints in the histogram").select_option(label="every checkpoint")
    page.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(page, "training health of demo-exploding at 390 px")
    ticks = page.evaluate("""() => Chart.getChart(document.getElementById("histogram-chart"))
        .scales.x.ticks.map((tick) => tick.label)""")
    assert len(ticks) <= 6, ticks
    assert all(re.fullmatch(r"-?[0-9.]+[KMB]?", label) for label in ticks), ticks
    screenshot(page, "training-health-exploding-phone")
    assert page_errors == []


def test_training_health_healthy_series_all_clear(page, server, checkpoints_dir, checkpoint_networks, page_errors):
    series = upload_checkpoint_series(server, checkpoints_dir / "healthy", checkpoint_networks["healthy"])
    page.get_by_role("tab", name="Training health").click()
    page.get_by_label("Checkpoint series", exact=True).select_option(label="healthy")
    expect(page.locator("#checkpoints-select option:checked")).to_have_text("healthy")
    expect(page.locator("#training-dataset option:checked")).to_have_text("breast_cancer")
    page.get_by_label("Histogram bins").fill("12")

    run_diagnosis(page)
    result = latest_diagnosis(server, series["id"])["result"]
    assert result["findings"] == []
    assert result["parameters"]["n_bins"] == 12
    expect(page.locator("#training-all-clear")).to_have_text(
        "No problems found: every statistic is within the thresholds below.")
    expect(page.locator(".finding")).to_have_count(0)
    expect(page.locator("#training-thresholds")).to_have_attribute("open", "")
    expect(page.locator("#training-thresholds tbody tr")).to_have_count(len(result["thresholds"]))
    histogram = chart_data(page, "histogram-chart")
    assert all(len(dataset["data"]) == 12 for dataset in histogram["datasets"])
    expect(page.locator("#gradient-figure")).to_be_visible()

    # Without a dataset only the weights are described.
    page.get_by_label("Dataset (for activations and gradient norms)").select_option(label="none: describe the weights only")
    run_diagnosis(page)
    job = latest_diagnosis(server, series["id"])
    assert job["dataset_id"] is None
    assert job["result"]["gradients"] == {}
    expect(page.locator("#gradient-figure")).to_be_hidden()
    expect(page.locator("#activation-figure")).to_be_hidden()
    expect(page.locator("#training-notes")).to_contain_text("Without a dataset only the weights are described")
    expect(page.locator("#weight-norm-figure")).to_be_visible()
    assert page_errors == []


def test_checkpoint_upload_errors(page, server, checkpoints_dir, checkpoint_networks, page_errors):
    network = checkpoint_networks["healthy"]
    folder = checkpoints_dir / "healthy"
    for name in DEMO_SERIES:
        assert requests.delete(f"{server.url}/checkpoints/{name}", timeout=30).status_code == 204, name
    page.get_by_role("tab", name="Training health").click()
    expect(page.locator("#checkpoints-summary")).to_have_text("No checkpoint series is uploaded.")
    expect(page.locator("#training-form [data-error]")).to_have_text(
        "Upload a checkpoint series with the form to run the diagnosis.")
    expect(page.get_by_role("button", name="Run the diagnosis")).to_be_disabled()
    screenshot(page, "training-health-empty")
    page.get_by_label("Architecture").set_input_files(folder / network["architecture"])
    page.get_by_label("Weights, one safetensors file per checkpoint").set_input_files(
        [folder / name for name in network["weights"][:3]])
    error = page.locator("#checkpoints-upload-error")

    page.get_by_label("Epoch labels").fill("0, 1")
    page.get_by_role("button", name="Upload checkpoints").click()
    expect(error).to_have_text("Epoch labels must give one label per weights file: 3 files, 2 labels.")

    page.get_by_label("Epoch labels").fill("")
    page.get_by_label("Metadata").fill('["task", "classification"]')
    page.get_by_role("button", name="Upload checkpoints").click()
    expect(error).to_have_text(
        'Metadata must be a JSON object, such as {"task": "classification"}, got ["task", "classification"].')

    page.get_by_label("Metadata").fill("")
    not_weights = b"age,income\n39,<=50K\n"
    page.get_by_label("Weights, one safetensors file per checkpoint").set_input_files(
        files=[{"name": "epoch-000.safetensors", "mimeType": "application/octet-stream", "buffer": not_weights}])
    page.get_by_role("button", name="Upload checkpoints").click()
    problem = requests.post(f"{server.url}/checkpoints", files=[
        ("architecture", (network["architecture"], (folder / network["architecture"]).read_bytes())),
        ("weights", ("epoch-000.safetensors", not_weights)),
    ], timeout=60).json()
    expect(error).to_have_text(f"Upload failed: {problem['detail']}")
    assert requests.get(f"{server.url}/checkpoints", timeout=30).json()["checkpoints"] == []
    expect(page.locator("#checkpoints-select option")).to_have_count(0)
    expect(page.get_by_role("button", name="Run the diagnosis")).to_be_disabled()
    assert [error for error in page_errors if f"status of {problem['status']}" not in error] == []
