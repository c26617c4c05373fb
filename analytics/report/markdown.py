"""The executive headline and takeaway as Markdown, for chat or e-mail
(``analytics report executive --format md``).

The sentences are the HTML report's own: the title and subtitle of ``ExecutiveContext``, the
headline's ``headline_sentences`` and the takeaway's ``takeaway_points``; only the markup
differs. Markdown's punctuation in them is escaped with a backslash, so an id or a name from the
data cannot turn into a link, emphasis or HTML where the text is pasted.
"""

from __future__ import annotations

import re

from analytics.report.context import ExecutiveContext
from analytics.report.executive import headline_sentences
from analytics.report.takeaway import takeaway_points

# Emphasis, code, links, raw HTML and autolinks, tables, strike-through: the punctuation that can
# change what a sentence shows. Brackets escaped, parentheses cannot form a link.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md_escape(text: str) -> str:
    """``text`` with the Markdown punctuation that could change it backslash-escaped
    (CommonMark: an escaped ASCII punctuation character renders as itself, so the rendered text
    is ``text``)."""
    return _SPECIAL.sub(r"\\\1", text)


def executive_markdown(ctx: ExecutiveContext) -> str:
    """The headline and the takeaway of the executive report of ``ctx`` in Markdown."""
    t = takeaway_points(ctx)
    lines = [f"# {md_escape(ctx.title)}", "", f"_{md_escape(ctx.subtitle)}_", ""]
    lines += [md_escape(s) + "\n" for s in headline_sentences(ctx)]
    for head, items in (
        ("What changed", t.changed),
        ("Why it matters", t.matters),
        ("What to decide", t.decide),
    ):
        if items:
            lines += [f"## {head}", "", *(f"- {md_escape(s)}" for s in items), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = ["executive_markdown", "md_escape"]
