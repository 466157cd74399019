"""Fusion Explorer: the Streamlit app's frame and router.

Run it with ``streamlit run app.py`` (or ``make run``). This file sets up the
page, creates the shared session keys once, draws the sidebar every page
shares (dataset, device, running job) and routes to the page files in
``pages/``. The pages themselves only gather choices and show what
``fusion_core`` returns.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import state
from ui.errors import unexpected_errors
from ui.widgets import show_device, sidebar_status

st.set_page_config(
    page_title="Fusion Explorer",
    page_icon=":material/join_inner:",
    layout="wide",
    initial_sidebar_state="expanded",
)
state.init_session()

HERE = Path(__file__).parent
PAGES = {
    "Explore": [
        ("pages/home.py", "Home", ":material/home:"),
        ("pages/learn.py", "Learn", ":material/school:"),
        ("pages/lab.py", "Interaction lab", ":material/science:"),
    ],
    "Your experiment": [
        ("pages/data.py", "Data", ":material/dataset:"),
        ("pages/model.py", "Model", ":material/account_tree:"),
        ("pages/train.py", "Train", ":material/model_training:"),
        ("pages/results.py", "Results", ":material/insights:"),
        ("pages/compare.py", "Compare", ":material/leaderboard:"),
        ("pages/predict.py", "Predict", ":material/batch_prediction:"),
    ],
}
DEFAULT_PAGE = "pages/home.py"

navigation = st.navigation(
    {
        section: [
            st.Page(path, title=title, icon=icon, default=path == DEFAULT_PAGE)
            for path, title, icon in pages
            if (HERE / path).is_file()
        ]
        for section, pages in PAGES.items()
    },
    position="sidebar",
)
device_slot = sidebar_status()
with unexpected_errors():
    navigation.run()
show_device(device_slot, wait=True)
