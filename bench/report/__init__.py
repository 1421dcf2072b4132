"""Reporting: tables, figures, the results page, calibration, sweeps and diagnostics,
rendered from the store. It sits above the run machinery."""
