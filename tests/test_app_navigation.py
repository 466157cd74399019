"""Every page, reached the way a user reaches it: from app.py through its navigation, in several orders.

For datasets with one, two, three and six modalities of mixed types, a fresh
session visits every page in the sidebar's order, in the reverse order, and
with Train before Model (the page that sets the fusion method). No page may
raise, show an ``st.exception`` or fall back to the app's "unexpected error"
box. The one-modality dataset arrives through the Data page's uploader, as it
would for a user; the others are put in the session directly, to keep the
matrix fast.
"""

from __future__ import annotations

import pytest
from app_helpers import navigation_pages, new_app, problems
from bundle_factory import write_bundle, zip_folder

from fusion_core.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from fusion_core.experiment import run_experiment
from fusion_core.runs import RunStore
from ui import state
from ui.errors import UNEXPECTED_TITLE

SIDEBAR = [path for path, _title in navigation_pages()]
ORDERS = {
    "sidebar": SIDEBAR,
    "reverse": SIDEBAR[::-1],
    # Data first (where an upload happens), then Train before the Model page has ever run.
    "train-before-model": [
        "pages/data.py",
        "pages/train.py",
        *[p for p in SIDEBAR if p not in ("pages/data.py", "pages/train.py")],
    ],
}
SIX_MODALITY_SCHEMA = {
    "modalities": {
        "clinical": {"type": "tabular", "columns": ["age", "size"]},
        "colour": {"type": "tabular", "columns": ["color"]},
        "photo": {"type": "image", "columns": ["image"]},
        "note": {"type": "text", "columns": ["note"]},
        "voice": {"type": "audio", "columns": ["audio"]},
        "motion": {"type": "series", "columns": ["series"]},
    }
}
DATASETS = {
    "one": {"modalities": ("image",)},
    "two": {"modalities": ("tabular", "text")},
    "three": {"modalities": ("tabular", "image", "audio")},
    "six": {"modalities": ("tabular", "image", "text", "audio", "series"), "schema": SIX_MODALITY_SCHEMA},
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrix-bundles")
    return {
        name: write_bundle(folder, n=24, name=f"m{name}", seed=index, **spec)
        for index, (name, spec) in enumerate(DATASETS.items())
    }


@pytest.fixture(scope="module")
def runs(bundles, tmp_path_factory):
    """A store holding one short run per dataset, so Results and Compare have something to show.

    Returns the store's folder and each dataset's run id.
    """
    folder = tmp_path_factory.mktemp("matrix-runs")
    store = RunStore(folder)
    run_ids = {}
    for dataset, bundle in bundles.items():
        config = ExperimentConfig(
            data=DataConfig(source=str(bundle)),
            model=ModelConfig(fusion="late", embedding_dim=8),
            train=TrainConfig(epochs=1, batch_size=16, device="cpu"),
        )
        if bundle.name == "mone":
            config.model.fusion = "only:image"
        run_ids[dataset] = run_experiment(config, store=store).run_id
    return folder, run_ids


@pytest.fixture
def app_env(runs, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("FUSION_EXPLORER_RUNS", str(runs[0]))
    monkeypatch.setenv("FUSION_EXPLORER_CACHE", str(tmp_path_factory.getbasetemp() / "matrix-cache"))


def unexpected(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error if UNEXPECTED_TITLE in e.value]


def test_the_matrix_covers_every_page_of_the_navigation():
    assert SIDEBAR[0] == "pages/home.py" and "pages/train.py" in SIDEBAR and "pages/model.py" in SIDEBAR
    for order in ORDERS.values():
        assert sorted(order) == sorted(SIDEBAR)
    assert ORDERS["train-before-model"].index("pages/train.py") < ORDERS["train-before-model"].index(
        "pages/model.py"
    )


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("order", list(ORDERS))
def test_every_page_in_every_order(app_env, bundles, runs, dataset, order):
    bundle = bundles[dataset]
    at = new_app()
    assert unexpected(at) == []
    at.session_state[state.SELECTED_RUN] = runs[1][dataset]  # Results opens this dataset's run
    pages = ORDERS[order]
    if order == "train-before-model":
        # Arrive as a user does: upload the zip on the Data page, then go straight to Train.
        at.switch_page(pages[0]).run()
        payload = zip_folder(bundle).read_bytes()
        at.file_uploader(key="data_upload").set_value([(f"{bundle.name}.zip", payload, "application/zip")])
        at.run()
        assert problems(at) == [], f"the upload of {dataset} failed"
        assert at.session_state[state.DATASET].kind == "upload"
        pages = pages[1:]
    else:
        at.session_state[state.DATASET] = state.DatasetChoice("upload", bundle.name, str(bundle), bundle.name)
    for page in pages:
        at.switch_page(page).run()
        assert unexpected(at) == [], f"{page} ({dataset}, {order} order)"
        sidebar = " ".join(m.value for m in at.sidebar.markdown)
        assert "**Dataset:**" in sidebar, f"{page} ran without app.py's frame"
        if page == "pages/results.py":  # the dataset's own run, analysed
            assert any(f"on {bundle.name} " in c.value for c in at.caption), [c.value for c in at.caption]
    titles = [t.value for t in at.title]
    assert len(titles) == 1, titles  # the last page drew its own title, not an error in its place
