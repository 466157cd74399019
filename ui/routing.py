"""Keep every browser session on the app's own navigation.

Streamlit treats a folder named ``pages/`` beside the entry point as an old-style
multipage app. On a fresh server, requests run in that mode until ``st.navigation``
has been called once: a bookmarked page URL (``/learn``) opened first then runs the
page file alone, without ``app.py``'s frame, and the sidebar lists raw file names.

Every page calls ``use_app_navigation()`` first. Whenever that mode is on, it turns it
off and reruns, so ``app.py`` routes the request like any other. Otherwise it does
nothing. Streamlit's AppTest turns the mode back on before every run, so without this
a test that switches pages would run each page file alone, never ``app.py``.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def use_app_navigation() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
