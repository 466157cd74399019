"""In a real browser: train, predict new samples and download them; carry the run to a fresh server."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_browser import main, no_exception, open_page, shoot, wait_idle, watch_progress

from fusion_core.data import load_dataset, save_bundle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEW_SAMPLES = 24
EPOCHS = 2


def new_samples_zip(folder: Path) -> Path:
    """The first samples of the default dataset as a new bundle zip (images and audio included)."""
    dataset = load_dataset("digits-audio")
    subset = dataclasses.replace(dataset, table=dataset.table.head(NEW_SAMPLES).reset_index(drop=True))
    bundle = save_bundle(subset, folder / "bundle")
    target = folder / "new-digits.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(bundle.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, path.relative_to(bundle))
    return target


def upload(page, path: Path) -> None:
    main(page).get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(path))


def test_train_predict_download_then_import_in_a_fresh_server(
    app_server, fresh_server, page, screenshots, tmp_path
):
    page.goto(app_server.url)
    main(page).locator("h1", has_text="Fusion Explorer").wait_for()
    wait_idle(page)

    # Train one short run on the default dataset.
    open_page(page, "Train")
    epochs = main(page).get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page)
    main(page).get_by_role("button", name="Train", exact=True).click()
    watch_progress(page, until="Finished", timeout=180)
    wait_idle(page)
    no_exception(page)

    # Predict new samples and download the predictions.
    open_page(page, "Predict")
    upload(page, new_samples_zip(tmp_path))
    main(page).get_by_role("heading", name="Predictions").wait_for(timeout=60_000)
    wait_idle(page)
    no_exception(page)
    assert main(page).get_by_test_id("stDataFrame").count() >= 2  # expected inputs, predictions
    shoot(page, screenshots, "20-predict")
    with page.expect_download() as download:
        main(page).get_by_role("button", name="Download the predictions (CSV)").click()
    saved = tmp_path / "predictions.csv"
    download.value.save_as(saved)
    predictions = pd.read_csv(saved, dtype={"id": str})
    assert len(predictions) == NEW_SAMPLES
    assert {"id", "predicted", "missing", "present_image", "present_audio"} <= set(predictions.columns)
    probabilities = predictions[[c for c in predictions.columns if c.startswith("prob_")]]
    assert probabilities.shape[1] == 10 and (probabilities.sum(axis=1) - 1).abs().max() < 1e-4

    # Export the run from Results...
    open_page(page, "Results")
    with page.expect_download() as download:
        main(page).get_by_role("button", name="Download this run (zip)").click()
    run_zip = tmp_path / "run.zip"
    download.value.save_as(run_zip)
    label = main(page).get_by_test_id("stSelectbox").first.inner_text()

    # ... and import it in a fresh server with an empty run store.
    other = fresh_server()
    page.goto(other.url)
    main(page).locator("h1", has_text="Fusion Explorer").wait_for()
    wait_idle(page)
    open_page(page, "Results")
    assert "No saved runs yet" in main(page).inner_text()
    main(page).get_by_text("Import a run").click()
    upload(page, run_zip)
    main(page).get_by_role("button", name="Import", exact=True).click()
    main(page).get_by_text("Imported as run").wait_for()
    wait_idle(page)
    # Away and back in the same session (a reload would open a new session, with its own workspace).
    open_page(page, "Compare")
    open_page(page, "Results")
    main(page).locator("h1", has_text="Results").wait_for()
    wait_idle(page)
    main(page).get_by_test_id("stPlotlyChart").first.wait_for()
    assert main(page).get_by_test_id("stSelectbox").first.inner_text() == label
    no_exception(page)
    shoot(page, screenshots, "21-results-imported")
    open_page(page, "Compare")
    main(page).get_by_test_id("stPlotlyChart").first.wait_for()
    assert "concat · seed 0" in main(page).inner_text()
    no_exception(page)
    assert [p.name for p in other.runs.iterdir() if p.is_dir()] != []
