"""Fusion Explorer's model logic: data, preprocessing, encoders, fusion methods,
training, metrics, analysis, plots and the run registry.

The Streamlit app and the ``fusion-explorer`` CLI are thin layers over this
package; it never imports Streamlit.
"""

__version__ = "0.1.0"
