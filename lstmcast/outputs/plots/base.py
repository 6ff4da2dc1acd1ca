"""What every plot shares: matplotlib loaded on first use, one way to save (texts as written, a Software stamp), and
the recognition of lstmcast's own PNGs."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from lstmcast import __version__
from lstmcast.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SOFTWARE = f"lstmcast {__version__}"  # written into every PNG, so --force knows a plot it may replace


def pyplot() -> Any:
    import matplotlib  # 0.4 s to import: only when a plot is made

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: "Figure", path: Path) -> "Figure":
    """Every text as written: a column name's control characters escaped, its '$' not read as mathtext (so tick
    labels must be plain numbers: see plain_numbers). Returns the closed figure, whose layout tests can read."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        raw = text.get_text()
        text.set_text("".join(ch if ch.isprintable() or ch == "\n" else f"\\x{ord(ch):02x}" for ch in raw))
        text.set_parse_math(False)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": SOFTWARE})
    pyplot().close(fig)
    return fig


def check_png_path(path: Optional[Path]) -> None:
    """--plot takes a file ending in .png: not standard output, and not a .jpg that would hold PNG bytes."""
    if path is not None and (str(path) == "-" or path.suffix.lower() != ".png"):
        raise ConfigError(f"--plot {str(path)[:200]!r}: lstmcast draws PNG files; give a path ending in .png")


def is_plot(path: Path) -> bool:
    """A PNG whose Software text chunk says lstmcast wrote it."""
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
            for _ in range(64):  # text chunks come before the image data
                length, kind = struct.unpack(">I4s", handle.read(8))
                body = handle.read(length)
                handle.read(4)
                if kind == b"tEXt" and body.startswith(b"Software\x00lstmcast"):
                    return True
                if kind in (b"IDAT", b"IEND"):
                    return False
    except (OSError, struct.error):
        return False
    return False


def plain_numbers(axis: Any) -> None:
    """Tick labels as plain numbers ('0.5', '2', '1e+04'): never mathtext, which save() shows as its source."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def dated(ax: Any) -> None:
    """Concise date ticks (years, then months, then days, as the range needs) on the x axis."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
