"""Prompts whose input the answering model never saw: a bare link or an attachment marker
standing in for the text or picture the request is about."""

from __future__ import annotations

import regex

from filters.text_stats import blocks

# A paragraph that is only links ("https://www.bbc.com/news/world-51461830").
LINKS_ONLY = regex.compile(r"^\s*(?:<?https?://\S+?>?[\s,;]*)+$")
LINK = regex.compile(r"https?://\S+")
# A line that only marks where a file was ("<Picture Attached>", "[image]", "<insert video
# here>"); markup such as `<media type="image/png">` is not one.
ATTACHMENT = regex.compile(
    r"^\W*(?:<[\w ]{0,30}\b(?:attached|attachment|image|picture|photo|file|video|audio"
    r"|screenshot)\b[\w ]{0,30}>|\[(?:image|picture|photo|screenshot|video|audio|attachment)"
    r"\b[\w ]{0,30}\])\W*$",
    regex.IGNORECASE | regex.MULTILINE,
)
# What a request asks to be read, heard or seen: behind a link, only a browser has it.
CONTENT = regex.compile(
    r"\b(?:articles?|text|story|passage|pages?|web ?pages?|websites?|site|posts?|blog|videos?"
    r"|images?|pictures?|photos?|documents?|papers?|reports?|essay|speech|news|content|tweets?"
    r"|reviews?|podcast|song|lyrics|book|chapter|paragraph|email|letter|recipe)\b",
    regex.IGNORECASE,
)
# A request about the link itself ("extract the domain of this URL") needs nothing behind it.
ABOUT_THE_LINK = regex.compile(r"\b(?:urls?|domains?|hyperlinks?|query string)\b", regex.I)


def asks_about_unseen(prompt: str, answer: str) -> bool:
    """True when the prompt gives what it asks about only as an attachment marker, or as a
    link to content (an article, a page, a video) that the answer neither passes on nor cites:
    an answer to it was made up (Alpaca's "Summarize the given article" over a BBC link)."""
    if ATTACHMENT.search(prompt) and not ATTACHMENT.search(answer):
        return True
    paragraphs = blocks(prompt)
    given = [p for p in paragraphs[1:] if LINKS_ONLY.match(p)]
    if not given:
        return False
    request = "\n".join(p for p in paragraphs if p not in given)
    links = [link.rstrip(">,;") for p in given for link in LINK.findall(p)]
    if ABOUT_THE_LINK.search(request) or not CONTENT.search(request):
        return False
    return not any(link in answer for link in links)
