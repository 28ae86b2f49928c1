"""Tests of the sandbox emulator (exportspec.sandbox, `exportspec sandbox`)."""
