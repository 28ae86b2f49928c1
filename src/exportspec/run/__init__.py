"""Running exports: settings, one HTTP request, the download loop, atomic outputs, run records."""
