"""The I/O edge: audio sources, the daemon, its servers and the `streamchill` CLI."""
