"""The spec pipeline: load, variables, render, validate, compile."""
