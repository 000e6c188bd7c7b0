"""The composition root: command line, settings and the demo, wiring ledger, projections and api."""
