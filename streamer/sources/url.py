"""Fetch the audio of a URL or a bare YouTube video id with yt-dlp (the optional ``url`` extra)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from streamchill.streamer.errors import SourceError

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def is_remote(arg: str) -> bool:
    """True for http(s) URLs and bare 11-character YouTube ids that are not local paths."""
    if arg.startswith(("http://", "https://")):
        return True
    return bool(_YOUTUBE_ID.match(arg)) and not Path(arg).exists()


def to_url(arg: str) -> str:
    return arg if "://" in arg else f"https://www.youtube.com/watch?v={arg}"


def download_audio(arg: str, workdir: Path | None = None) -> Path:
    """Download the best audio of ``arg`` into ``workdir`` and return the file path."""
    try:
        import yt_dlp
    except ImportError as exc:
        raise SourceError(
            f"{arg}: URLs need yt-dlp; install it with: pip install 'streamchill[url]'"
        ) from exc
    target = workdir or Path(tempfile.mkdtemp(prefix="streamchill-"))
    options: dict[str, Any] = {
        # Opus first (YouTube's best audio, webm): the decoder reads every format, but this
        # one needs no remux and is the smallest download for the quality.
        "format": "bestaudio[acodec=opus]/bestaudio/best",
        "outtmpl": str(target / "%(id)s.%(ext)s"),
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "logger": _QuietLogger(),
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(to_url(arg), download=True)
            path = Path(ydl.prepare_filename(info))
    except Exception as exc:  # yt-dlp raises many kinds; all mean "could not fetch"
        message = str(exc).replace("ERROR: ", "").splitlines()[0] if str(exc) else repr(exc)
        raise SourceError(f"{arg}: cannot fetch ({message})") from exc
    if not path.exists():
        raise SourceError(f"{arg}: download finished but no file was written")
    return path


class _QuietLogger:
    """yt-dlp prints to stderr by default; we report errors ourselves, once."""

    def debug(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        pass
