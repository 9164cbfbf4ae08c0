"""Reports of an evaluation: the markdown table, the output folder, the PNG charts, the HTML page.

Everything here reads what ``cactus_router.evaluation.evaluate`` returns; nothing in the
evaluation imports it back. matplotlib (the ``eval`` extra) is imported only when a chart is drawn.
"""

from .charts import render_charts
from .files import output_files, write_outputs
from .html import report_html
from .markdown import comparison_rows, markdown_table
from .tiers import tier_markdown

__all__ = ["comparison_rows", "markdown_table", "output_files", "render_charts", "report_html", "tier_markdown",
           "write_outputs"]
