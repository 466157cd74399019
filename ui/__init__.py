"""The Streamlit side of Fusion Explorer: session state, background jobs, caches, forms and shared widgets.

Pages import these helpers; only this package touches ``st.session_state`` and the
Streamlit caches. The model logic itself lives in ``fusion_core``, which never
imports Streamlit.
"""
