"""Pure music-mood analysis: audio arrays in, :class:`MoodEvent` records out.

Nothing in this package opens a socket, a device or a file it was not handed;
heavy libraries (essentia, LiteRT) load lazily on first analysis.
"""

from streamchill.analyzer.events import MoodEvent, MoodState, WindowFeatures

__all__ = ["MoodEvent", "MoodState", "WindowFeatures"]
