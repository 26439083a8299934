"""Capacity planning: demand history from traces and run records, forecasts, advice."""
