"""Where audio comes from: a capture device, a file, a URL."""
