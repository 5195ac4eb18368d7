"""Browser tests: the real application served on a local port, driven by Chromium through Playwright."""
