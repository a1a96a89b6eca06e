"""Pictures and the static HTML report of explanations.

- :func:`write_report` (``python -m interpretability.report RESULTS_DIR``): the report of a results folder, the
  demo's or one recipe run's output folder: headline tables, listening cards, L2I components, sanity curve, AND
  neuron cards, metric definitions.
- :func:`write_explain_page`: the listening page of ``python -m interpretability.explain ... --report``.
- :mod:`.figures`: the pictures (spectrogram + mask, thumbnails, sanity curve).
- :mod:`.browser`: headless Chromium: render a page and check its players and pictures, take a screenshot.

The two functions are imported on first use, so that ``interpretability.report.figures`` stays light.
"""

__all__ = ["write_report", "write_explain_page"]


def __getattr__(name):
    if name == "write_report":
        from interpretability.report.site import write_report

        return write_report
    if name == "write_explain_page":
        from interpretability.report.explain_page import write_explain_page

        return write_explain_page
    raise AttributeError(
        f"module 'interpretability.report' has no attribute {name!r}"
    )
