"""Opening a report in headless Chromium (Debian's ``chromium``), as a supervisor's browser.

``open_page`` guarantees: the system's Chromium (``CHROMIUM``, never a
browser Playwright would download), headless, JavaScript off (a report has
no script; a page that needs one shows it here), the page loaded from its
``file://`` path; every request the page makes is recorded and none is let
through but the page itself (``Opened.requests``); every console message and
page error is kept (``Opened.console``). A screenshot or an A4 PDF is made
from the same page (``screenshot``, ``pdf``), so what a test checks and what
the README shows are one rendering.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

__all__ = ["CHROMIUM", "Chromium", "Opened", "chromium", "chromium_path", "open_page"]

CHROMIUM = "chromium"
# Chromium in a container runs as root, where its sandbox cannot start.
_ARGUMENTS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run")


def chromium_path() -> Path:
    """The system's Chromium; RuntimeError naming the package if it is not installed."""
    found = shutil.which(CHROMIUM)
    if found is None:
        raise RuntimeError("chromium is not installed: `make browser` (apt-get install chromium)")
    return Path(found)


@dataclass
class Opened:
    """A page as opened: what it asked for and what it said."""

    page: Page
    url: str
    requests: list[str] = field(default_factory=list)  # every URL asked for, in order
    console: list[str] = field(default_factory=list)  # "type: text" of each message and error

    @property
    def outside_requests(self) -> list[str]:
        """The requests for anything but the page itself (each one was refused)."""
        return [url for url in self.requests if url != self.url]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith(("error:", "pageerror:"))]

    def screenshot(self, path: Path, *, width: int = 1200, height: int = 0) -> Path:
        """The page as a PNG, ``width`` CSS pixels wide: all of it, or its top ``height``."""
        self.page.set_viewport_size({"width": width, "height": height or 900})
        if height:
            clip = {"x": 0, "y": 0, "width": width, "height": height}
            self.page.screenshot(path=str(path), clip=clip, full_page=True)  # type: ignore[arg-type]
        else:
            self.page.screenshot(path=str(path), full_page=True)
        return path

    def pdf(self, path: Path) -> Path:
        """The page printed on A4 with its print stylesheet."""
        self.page.emulate_media(media="print")
        self.page.pdf(path=str(path), format="A4", prefer_css_page_size=True, print_background=True)
        self.page.emulate_media(media="screen")
        return path


class Chromium:
    """A headless Chromium running: pages open in it one context each (no shared state)."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser

    @contextmanager
    def open(self, path: Path, *, width: int = 1200, height: int = 900) -> Iterator[Opened]:
        """The page at ``path`` open (see the module docstring)."""
        url = path.resolve().as_uri()
        context = self._browser.new_context(
            java_script_enabled=False,
            viewport={"width": width, "height": height},
            service_workers="block",
            offline=True,
        )
        try:
            page = context.new_page()
            opened = Opened(page, url)

            def route(route: Route, request: Request) -> None:
                if request.url == url:
                    route.continue_()
                else:
                    route.abort("blockedbyclient")

            page.on("request", lambda request: opened.requests.append(request.url))
            page.on(
                "console", lambda message: opened.console.append(f"{message.type}: {message.text}")
            )
            page.on("pageerror", lambda error: opened.console.append(f"pageerror: {error}"))
            context.route("**/*", route)
            page.goto(url, wait_until="load")
            yield opened
        finally:
            context.close()


@contextmanager
def chromium() -> Iterator[Chromium]:
    """The system's Chromium, headless, for as long as the block runs."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path()), headless=True, args=list(_ARGUMENTS)
        )
        try:
            yield Chromium(browser)
        finally:
            browser.close()


@contextmanager
def open_page(path: Path, *, width: int = 1200, height: int = 900) -> Iterator[Opened]:
    """The page at ``path`` open in a Chromium of its own."""
    with chromium() as browser, browser.open(path, width=width, height=height) as opened:
        yield opened


def main(arguments: Sequence[str] | None = None) -> int:
    """``python -m exchange_service.tools.browser REPORT.html OUT.png``: the screenshot of a
    report as the browser test renders it (the README's is of `make run`'s report)."""
    parser = argparse.ArgumentParser(prog="python -m exchange_service.tools.browser")
    parser.add_argument("page", type=Path, help="the report.html to render")
    parser.add_argument("png", type=Path, help="where the screenshot goes")
    parser.add_argument("--width", type=int, default=1200, help="CSS pixels")
    parser.add_argument("--height", type=int, default=0, help="crop to this height (0: all)")
    args = parser.parse_args(arguments)
    with open_page(args.page, width=args.width) as opened:
        if opened.errors or opened.outside_requests:
            sys.stderr.write(f"the page is not clean: {opened.errors} {opened.outside_requests}\n")
            return 1
        opened.screenshot(args.png, width=args.width, height=args.height)
    sys.stdout.write(f"{args.png}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
